/**
 * Writes rollups to Redis: one APPLY_LUA call per site (apply.script.ts), all sites in one
 * pipeline. A call whose expected offsets are stale (another instance, or a replay after a crash,
 * got there first) writes no counter and reports the offsets it found.
 */
import type { Redis } from 'ioredis';
import { DependencyError } from '../core/errors.ts';
import { APPLY_LUA, encodeApply, type OffsetUpdate } from './apply.script.ts';
import { offsetField, type SpeedKeys } from './redis.keys.ts';
import type { ApplyResult, BatchPosition, SiteRollup } from './types.ts';

type ApplyCommand = (numKeys: number, keysAndArgs: string[]) => Promise<unknown>;

/** A rollup and the partitions it holds events of (their records are checked and moved together). */
export interface ApplyItem {
  rollup: SiteRollup;
  offsets: OffsetUpdate[];
}

/** Applied, or the current offset record of each partition of the item (in its order). */
export type MultiApplyResult = { applied: true } | { applied: false; current: (string | null)[] };

export interface RollupWriterDeps {
  redis: Redis;
  keys: SpeedKeys;
  ttlMs: number;
  /** Contract 9's idle timeout (ms) that ends a visit; default core/sessions.ts DEFAULT_SESSION_IDLE_MS. */
  sessionIdleMs?: number;
}

export class RollupWriter {
  constructor(private readonly deps: RollupWriterDeps) {
    if (!('speedApply' in deps.redis)) deps.redis.defineCommand('speedApply', { lua: APPLY_LUA });
  }

  /** Highest applied offset of `pos` for each site (null: nothing applied yet). */
  async appliedOffsets(sites: readonly string[], pos: BatchPosition): Promise<Map<string, string | null>> {
    const field = offsetField(pos.topic, pos.partition);
    const pipe = this.deps.redis.pipeline();
    for (const s of sites) pipe.hget(this.deps.keys.site(s).offsets, field);
    const res = await this.exec(pipe, 'read offsets');
    return new Map(sites.map((s, i) => [s, (res[i] as string | null) ?? null]));
  }

  /** Applies each rollup iff its site's offset record still holds `expected` for `pos`; results in order. */
  async apply(items: readonly { rollup: SiteRollup; expected: string | null }[], pos: BatchPosition): Promise<ApplyResult[]> {
    const field = offsetField(pos.topic, pos.partition);
    const res = await this.applyMany(items.map(({ rollup, expected }) => ({ rollup, offsets: [{ field, expected, next: rollup.maxOffset }] })));
    return res.map((r) => (r.applied ? r : { applied: false, currentOffset: r.current[0] ?? null }));
  }

  /**
   * Applies each rollup iff every offset record it names still holds the expected offset; results
   * in order. Sites are remembered in the `sites` set in the same round trip (idempotent, outside
   * the script because that key has no site tag).
   */
  async applyMany(items: readonly ApplyItem[]): Promise<MultiApplyResult[]> {
    if (items.length === 0) return [];
    const pipe = this.deps.redis.pipeline();
    const run = (pipe as unknown as { speedApply: ApplyCommand }).speedApply.bind(pipe);
    for (const { rollup, offsets } of items) {
      const call = encodeApply(this.deps.keys.site(rollup.site), rollup, offsets, this.deps.ttlMs, this.deps.sessionIdleMs);
      void run(call.keys.length, call.keys.concat(call.args));
    }
    pipe.sadd(this.deps.keys.sites, ...items.map((i) => i.rollup.site));
    pipe.pexpire(this.deps.keys.sites, this.deps.ttlMs);
    const res = await this.exec(pipe, 'apply rollups');
    return items.map((_, i) => (res[i] === 1 ? { applied: true } : { applied: false, current: (res[i] as string[]).map((c) => c || null) }));
  }

  private async exec(pipe: ReturnType<Redis['pipeline']>, what: string): Promise<unknown[]> {
    let res: [Error | null, unknown][] | null;
    try {
      res = await pipe.exec();
    } catch (err) {
      throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not ${what}: ${(err as Error).message}`, err);
    }
    if (!res) throw new DependencyError('REDIS_WRITE_FAILED', `redis: ${what}: pipeline aborted`);
    return res.map(([err, value]) => {
      if (err) throw new DependencyError('REDIS_WRITE_FAILED', `redis: could not ${what}: ${err.message}`, err);
      return value;
    });
  }
}
