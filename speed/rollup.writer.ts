/**
 * Writes rollups to Redis: one APPLY_LUA call per site (apply.script.ts), all sites' calls sent
 * together. A call whose expected offsets are stale (another instance, or a replay after a crash,
 * got there first) writes no counter and reports the offsets it found.
 *
 * A full Redis (maxmemory reached under `noeviction`: "OOM command not allowed") is backpressure,
 * not a failure: Redis refuses a script before its first write, so the refused calls are sent
 * again after a pause, growing to `fullRetryMaxMs`, for as long as it lasts (the consumer stops
 * fetching meanwhile and Kafka keeps the events); `onFull` reports each wait (heartbeats, metrics).
 */
import { waitForReplicas, type RedisClient } from '../core/redis-client.ts';
import { DependencyError } from '../core/errors.ts';
import { pipelineValues, settledReplies, settledValues } from './redis.exec.ts';
import { APPLY_LUA, encodeApply, packArg, type OffsetUpdate } from './apply.script.ts';
import { offsetField, type SpeedKeys } from './redis.keys.ts';
import type { ApplyResult, BatchPosition, SiteRollup } from './types.ts';

type ApplyCommand = (numKeys: number, keysAndArgs: (string | Buffer)[]) => Promise<unknown>;

/** A rollup and the partitions it holds events of (their records are checked and moved together). */
export interface ApplyItem {
  rollup: SiteRollup;
  offsets: OffsetUpdate[];
  /** The site's epoch the rollup belongs to (speed/epoch.store.ts); absent: not checked (tests writing a store directly). */
  epoch?: string;
}

/**
 * Applied, or the current offset record of each partition of the item (in its order); with
 * `duplicates`, the rollup holds an event id another record counted (the apply script checks the
 * ids it records, SPEED_DEDUPE_WINDOW), nothing of it was written, and `current` is what the item
 * expected: its caller folds the site again without the copy.
 */
export type MultiApplyResult = { applied: true } | { applied: false; current: (string | null)[]; duplicates?: true };

export interface RollupWriterDeps {
  redis: RedisClient;
  keys: SpeedKeys;
  ttlMs: number;
  /** Contract 9's idle timeout (ms) that ends a visit; default core/sessions.ts DEFAULT_SESSION_IDLE_MS. */
  sessionIdleMs?: number;
  /** Members per counter hash and page/referrer set of a site's minute (SPEED_MAX_MEMBERS). */
  maxMembers?: number;
  /** How long (ms) counted event ids are kept for the dedupe of client retries; 0 or absent: no dedupe. */
  dedupeMs?: number;
  /** Longest pause between tries while Redis is full (ms); default 5 s. */
  fullRetryMaxMs?: number;
  /** Called before each pause while Redis is full (`waitedMs` so far), and with -1 when it took the writes again. */
  onFull?: (waitedMs: number) => void | Promise<void>;
  /** Stops the waiting (the consumer is stopping): the call then fails with REDIS_FULL. */
  stopping?: () => boolean;
  /** Redis Cluster: how long a round waits for its writes to reach a replica (waitForReplicas); default 2 s. */
  replicaWaitMs?: number;
}

/** Redis at maxmemory under noeviction refuses writes with this error (Redis 2.8 to 7). */
export function isRedisFull(err: unknown): boolean {
  return /^OOM\b/.test((err as Error | undefined)?.message ?? '');
}

/** KEYS: event-id hashes; ARGV[1]: MessagePack [[id, ...], ...] one list per key. Returns [key index, id index, value, ...] of the ids found. */
const SEEN_IDS_LUA = `
local out = {}
for k, ids in ipairs(cmsgpack.unpack(ARGV[1])) do
  local j, n = 1, #ids
  while j <= n do
    local e = math.min(n, j + 3999)
    local r = redis.call('HMGET', KEYS[k], unpack(ids, j, e))
    for i = 1, #r do
      if r[i] then
        out[#out + 1] = k
        out[#out + 1] = j + i - 1
        out[#out + 1] = r[i]
      end
    end
    j = e + 1
  end
end
return out
`;

/** KEYS[1]: a site's visit-state hash; ARGV[1]: MessagePack [visitor, ...]. Returns their states in order (nil: none). */
const VISIT_STATES_LUA = `
local visitors, out = cmsgpack.unpack(ARGV[1]), {}
local j, n = 1, #visitors
while j <= n do
  local e = math.min(n, j + 3999)
  local r = redis.call('HMGET', KEYS[1], unpack(visitors, j, e))
  for i = 1, #r do out[j + i - 1] = r[i] end
  j = e + 1
end
return out
`;

/** Reads and cuts again at most this many times in a row when visitor states keep moving under a round. */
const MAX_RECUTS = 20;

export class RollupWriter {
  /** The writer's scripts, defined on its connection and bound once. */
  private readonly scripts: { apply: ApplyCommand; seenIds: ApplyCommand; visitStates: ApplyCommand };

  constructor(private readonly deps: RollupWriterDeps) {
    if (!('speedApply' in deps.redis)) deps.redis.defineCommand('speedApply', { lua: APPLY_LUA });
    if (!('speedSeenIds' in deps.redis)) deps.redis.defineCommand('speedSeenIds', { lua: SEEN_IDS_LUA });
    if (!('speedVisitStates' in deps.redis)) deps.redis.defineCommand('speedVisitStates', { lua: VISIT_STATES_LUA });
    const defined = deps.redis as unknown as Record<'speedApply' | 'speedSeenIds' | 'speedVisitStates', ApplyCommand>;
    this.scripts = { apply: defined.speedApply.bind(deps.redis), seenIds: defined.speedSeenIds.bind(deps.redis), visitStates: defined.speedVisitStates.bind(deps.redis) };
  }

  /**
   * Of each site's event ids (per minute), the ones Redis holds as counted, with the record that
   * counted them: one script call per site (its keys share the site's slot), the ids as one MessagePack
   * argument (ioredis spends far longer encoding thousands of arguments), and only the found ones
   * come back (a retry is rare). Like the apply calls, sent as separate commands (settledReplies).
   */
  async countedIds(sites: ReadonlyMap<string, readonly (readonly [minute: number, ids: readonly string[]])[]>): Promise<Map<string, { minute: number; id: string; at: string }[]>> {
    const order = [...sites.keys()];
    const res = await settledValues(
      order.map((site) => {
        const keys = this.deps.keys.site(site);
        const minutes = sites.get(site)!;
        return this.scripts.seenIds(minutes.length, [...minutes.map(([m]) => keys.eventIds(m)), packArg(minutes.map(([, ids]) => ids))]);
      }),
      'read counted event ids',
    );
    const out = new Map<string, { minute: number; id: string; at: string }[]>();
    order.forEach((site, i) => {
      const found = res[i] as (number | string)[];
      if (found.length === 0) return;
      const minutes = sites.get(site)!;
      const list: { minute: number; id: string; at: string }[] = [];
      for (let j = 0; j < found.length; j += 3) {
        const [minute, ids] = minutes[Number(found[j]) - 1]!;
        list.push({ minute, id: ids[Number(found[j + 1]) - 1]!, at: String(found[j + 2]) });
      }
      out.set(site, list);
    });
    return out;
  }

  /** Highest applied offset of `pos` for each site (null: nothing applied yet). */
  appliedOffsets(sites: readonly string[], pos: BatchPosition): Promise<Map<string, string | null>> {
    return this.recordedOffsets(sites, offsetField(pos.topic, pos.partition));
  }

  /** The offset each site's record holds in `field` (null: none). */
  async recordedOffsets(sites: readonly string[], field: string): Promise<Map<string, string | null>> {
    const pipe = this.deps.redis.pipeline();
    for (const s of sites) pipe.hget(this.deps.keys.site(s).offsets, field);
    const res = await pipelineValues(pipe, 'read offsets');
    return new Map(sites.map((s, i) => [s, (res[i] as string | null) ?? null]));
  }

  /** Applies each rollup iff its site's offset record still holds `expected` for `pos` (and its epoch is `epoch`); results in order. */
  async apply(items: readonly { rollup: SiteRollup; expected: string | null; epoch?: string }[], pos: BatchPosition): Promise<ApplyResult[]> {
    const field = offsetField(pos.topic, pos.partition);
    const res = await this.applyMany(items.map(({ rollup, expected, epoch }) => ({ rollup, offsets: [{ field, expected, next: rollup.maxOffset }], ...(epoch ? { epoch } : {}) })));
    return res.map((r) => (r.applied ? r : { applied: false, currentOffset: r.current[0] ?? null, ...(r.duplicates ? { duplicates: true as const } : {}) }));
  }

  /**
   * Applies each rollup iff every offset record it names still holds the expected offset; results
   * in order. Sites are remembered in the `sites` set in the same round trip (idempotent, outside
   * the script because that key has no site tag).
   */
  async applyMany(items: readonly ApplyItem[]): Promise<MultiApplyResult[]> {
    if (items.length === 0) return [];
    const results = new Array<MultiApplyResult | undefined>(items.length);
    let todo = items.map((_, i) => i);
    let waited = 0;
    let recuts = 0;
    for (let pause = 100; ; pause = Math.min(pause * 2, this.deps.fullRetryMaxMs ?? 5_000)) {
      const { refused, moved } = await this.applyOnce(todo.map((i) => items[i]!), (j, r) => (results[todo[j]!] = r));
      if (moved.length > 0 && refused.length === 0) {
        // A visitor state moved between the read and the write (the epoch rebuild writes the same
        // visitors): read and cut again. Nothing of these items was written.
        if (++recuts > MAX_RECUTS) throw new DependencyError('SPEED_STATE_CONTENDED', `redis: visitor states of ${moved.length} site rollups kept moving under ${MAX_RECUTS} tries`);
        todo = moved.map((j) => todo[j]!);
        pause = 50;
        continue;
      }
      if (refused.length === 0) break;
      refused.push(...moved);
      if (this.deps.stopping?.()) throw new DependencyError('REDIS_FULL', `redis: full (maxmemory under noeviction) while ${refused.length} site rollups waited; stopping`);
      todo = refused.map((j) => todo[j]!);
      await this.deps.onFull?.(waited);
      await new Promise((r) => setTimeout(r, pause));
      waited += pause;
    }
    if (waited > 0) await this.deps.onFull?.(-1);
    // On a Redis Cluster a write only its master holds would be undone by a failover, while the
    // consumer moves on believing it applied: the round is done once a replica has it too.
    await waitForReplicas(this.deps.redis, this.deps.replicaWaitMs ?? 2_000);
    return results as MultiApplyResult[];
  }

  /**
   * The visit states (visitor → `start:last`) of each item's visitors, one read-only script per
   * site (the visitors as one MessagePack argument, like the ids of countedIds).
   */
  private async visitStates(items: readonly ApplyItem[]): Promise<Map<string, string | null>[]> {
    const out = items.map(() => new Map<string, string | null>());
    const asked = items.map((it, i) => ({ i, visitors: [...it.rollup.visits.keys()] })).filter((a) => a.visitors.length > 0);
    if (asked.length === 0) return out;
    const res = await settledValues(asked.map((a) => this.scripts.visitStates(1, [this.deps.keys.site(items[a.i]!.rollup.site).visitState, packArg(a.visitors)])), 'read visit states');
    asked.forEach((a, k) => {
      const states = res[k] as (string | null)[];
      const map = out[a.i]!;
      a.visitors.forEach((v, j) => map.set(v, states[j] ?? null));
    });
    return out;
  }

  /**
   * One call per item, all sent together; returns the positions Redis refused as full and those
   * whose visitor states moved since they were read (nothing of either was written).
   */
  private async applyOnce(items: readonly ApplyItem[], done: (j: number, r: MultiApplyResult) => void): Promise<{ refused: number[]; moved: number[] }> {
    const states = await this.visitStates(items);
    const { redis } = this.deps;
    const settings = { ttlMs: this.deps.ttlMs, dedupeMs: this.deps.dedupeMs ?? 0, now: Date.now(), ...(this.deps.sessionIdleMs !== undefined ? { sessionIdleMs: this.deps.sessionIdleMs } : {}), ...(this.deps.maxMembers !== undefined ? { maxMembers: this.deps.maxMembers } : {}) };
    // Separate commands, not a pipeline (redis.exec.ts settledReplies): with six partitions a round,
    // one consumer took about a fifth less CPU per event.
    const calls = items.map(({ rollup, offsets, epoch }, j) => {
      const call = encodeApply(this.deps.keys.site(rollup.site), rollup, offsets, { ...settings, epoch: epoch ?? '' }, states[j]);
      return this.scripts.apply(call.keys.length, [...call.keys, ...call.args]);
    });
    calls.push(redis.sadd(this.deps.keys.sites, ...items.map((i) => i.rollup.site)), redis.pexpire(this.deps.keys.sites, this.deps.ttlMs));
    const res = await settledReplies(calls);
    const refused: number[] = [];
    const moved: number[] = [];
    for (let j = 0; j < res.length; j++) {
      const [err, value] = res[j]!;
      if (err && isRedisFull(err)) {
        if (j < items.length) refused.push(j);
        // The sites set is sent again with the refused ones; when all went through, it waits for the next call.
        continue;
      }
      if (err) throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not apply rollups: ${err.message}`, err);
      if (j >= items.length) continue;
      if (value === 2) moved.push(j);
      else if (value === 3) done(j, { applied: false, current: items[j]!.offsets.map((o) => o.expected), duplicates: true });
      else done(j, value === 1 ? { applied: true } : { applied: false, current: (value as string[]).map((c) => c || null) });
    }
    return { refused, moved };
  }
}
