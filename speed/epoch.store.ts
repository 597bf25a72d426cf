/**
 * Epochs of the speed store, one per site, in the site's own hash slot (`P:{s}:ep`, no TTL), so a
 * flushed or restarted Redis, or a lost Redis Cluster shard, takes a site's epoch with its buckets
 * and the loss is seen: serving then shows the site's speed buckets as missing, never as zeros,
 * and the speed layer rebuilds them from W by itself (speed/epoch.rebuild.ts).
 *
 * An epoch begins at `split` (a minute): the speed consumers apply events from `split` on; what
 * came before is rebuilt from Kafka by the one instance holding the epoch's lease. `from` is where
 * coverage starts: `split` until the rebuild is done, then the start of the rebuild. An epoch made
 * when nothing can have been lost (a consumer group reading its topic from the beginning) starts
 * done, with split 0. Every apply names the epoch it expects (apply.script.ts): a write never lands
 * in an epoch its writer has not seen begin.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../core/redis-client.ts';
import { DependencyError } from '../core/errors.ts';
import { pipelineValues } from './redis.exec.ts';
import type { SpeedKeys } from './redis.keys.ts';

export interface SpeedEpoch {
  id: string;
  /** Events before this instant belong to the rebuild, from it on to the consumers. */
  split: number;
  /** Where the site's coverage starts. */
  from: number;
  /** The rebuild of [W, split) is done (or there was nothing to rebuild). */
  done: boolean;
}

const ENSURE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'split', ARGV[2], 'from', ARGV[2], 'done', ARGV[3])
  return {1, redis.call('HGETALL', KEYS[1])}
end
return {0, redis.call('HGETALL', KEYS[1])}`;

/** Takes (or renews) the rebuild lease of epoch ARGV[1] for ARGV[2] until ARGV[4] when free or expired at ARGV[3]. */
const CLAIM = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'done') == '1' then return 0 end
local owner, lease = redis.call('HGET', KEYS[1], 'owner'), tonumber(redis.call('HGET', KEYS[1], 'lease') or '0')
if owner ~= ARGV[2] and lease > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'lease', ARGV[4])
return 1`;

const FINISH = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'from', ARGV[2], 'done', '1')
redis.call('HDEL', KEYS[1], 'owner', 'lease')
return 1`;

function parse(flat: string[] | Record<string, string>): SpeedEpoch | null {
  const h: Record<string, string> = Array.isArray(flat) ? Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!])) : flat;
  if (!h.id) return null;
  return { id: h.id, split: Number(h.split ?? 0), from: Number(h.from ?? h.split ?? 0), done: h.done === '1' };
}

export class EpochStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: SpeedKeys,
  ) {}

  /** The current epoch of each site (null: none, the site's data is lost or was never written). */
  async read(sites: readonly string[]): Promise<Map<string, SpeedEpoch | null>> {
    if (sites.length === 0) return new Map();
    const pipe = this.redis.pipeline();
    for (const s of sites) pipe.hgetall(this.keys.site(s).epoch);
    const res = await pipelineValues(pipe, 'read epochs');
    return new Map(sites.map((s, i) => [s, parse(res[i] as Record<string, string>)]));
  }

  /** The site's epoch, made now (split, done as given) when it has none; `created` says which. */
  async ensure(site: string, split: number, done: boolean): Promise<{ epoch: SpeedEpoch; created: boolean }> {
    const [created, flat] = (await this.call(ENSURE, this.keys.site(site).epoch, [randomUUID(), String(split), done ? '1' : '0'], 'make an epoch')) as [number, string[]];
    return { epoch: parse(flat)!, created: created === 1 };
  }

  /** A new epoch, done, covering from `from`: after `twinlane speed rebuild` cleared the site. */
  async reset(site: string, from: number): Promise<SpeedEpoch> {
    const key = this.keys.site(site).epoch;
    const epoch = { id: randomUUID(), split: from, from, done: true };
    await pipelineValues(this.redis.pipeline().del(key).hset(key, 'id', epoch.id, 'split', String(from), 'from', String(from), 'done', '1'), 'reset an epoch');
    return epoch;
  }

  /** Takes or renews the rebuild lease of `id` for `owner` until `now + leaseMs`; false when another holds it or it is done. */
  async claim(site: string, id: string, owner: string, leaseMs: number, now = Date.now()): Promise<boolean> {
    return (await this.call(CLAIM, this.keys.site(site).epoch, [id, owner, String(now), String(now + leaseMs)], 'claim a rebuild')) === 1;
  }

  /** The rebuild of `id` is done: coverage starts at `from`. False when the epoch has changed meanwhile. */
  async finish(site: string, id: string, from: number): Promise<boolean> {
    return (await this.call(FINISH, this.keys.site(site).epoch, [id, String(from)], 'finish a rebuild')) === 1;
  }

  private async call(script: string, key: string, args: string[], what: string): Promise<unknown> {
    try {
      return await this.redis.eval(script, 1, key, ...args);
    } catch (err) {
      throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not ${what}: ${(err as Error).message}`, err);
    }
  }
}
