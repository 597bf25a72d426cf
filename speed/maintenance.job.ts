/**
 * Deletes speed keys: buckets before the batch watermark once batch has published them
 * (`retireBefore`), or everything of a site or of all sites before a rebuild (`clear`).
 * Coverage moves first, so a reader never takes a half-deleted range for real numbers.
 */
import { scanKeys, unlinkKeys, type RedisClient } from '../core/redis-client.ts';
import { DependencyError } from '../core/errors.ts';
import { EpochStore } from './epoch.store.ts';
import { DAY_MINUTES, HOUR_MINUTES, MINUTE_MS, toMinute, type SpeedKeys } from './redis.keys.ts';

export interface MaintenanceDeps {
  redis: RedisClient;
  keys: SpeedKeys;
  /** The meta record expires like every other key; by then retention starts later than it anyway. */
  ttlMs: number;
}

export class SpeedMaintenance {
  constructor(private readonly deps: MaintenanceDeps) {}

  /** Sites that have written speed data (and not been cleared). */
  async sites(): Promise<string[]> {
    return (await this.deps.redis.smembers(this.deps.keys.sites)).sort();
  }

  /** Deletes the buckets of minutes before `w` (of one site, or of every site); returns minutes deleted. */
  async retireBefore(w: number, site?: string): Promise<number> {
    const before = toMinute(w);
    let total = 0;
    for (const s of site === undefined ? await this.sites() : [site]) {
      const keys = this.deps.keys.site(s);
      await this.raiseCoverageFrom(s, before * MINUTE_MS);
      const minutes = (await this.deps.redis.zrangebyscore(keys.index, '-inf', `(${before}`)).map(Number);
      for (let i = 0; i < minutes.length; i += 200) {
        const chunk = minutes.slice(i, i + 200);
        const read = this.deps.redis.pipeline();
        for (const m of chunk) read.smembers(keys.dimIndex(m));
        const dims = (await this.exec(read)) as string[][];
        const del = this.deps.redis.pipeline();
        chunk.forEach((m, j) => {
          del.unlink(...keys.minuteKeys(m), ...dims[j]!.map((dv) => keys.dimVisitors(m, dv)));
        });
        del.zrem(keys.index, ...chunk.map(String));
        // Hours and days wholly before W go with their minutes; the hour and day holding W stay for their later minutes.
        const hours = [...new Set(chunk.map((m) => Math.floor(m / HOUR_MINUTES)))].filter((h) => (h + 1) * HOUR_MINUTES <= before);
        if (hours.length) del.unlink(...hours.flatMap((h) => [keys.pagesHour(h), keys.referrersHour(h), keys.countersHour(h), keys.visitorsHour(h), keys.sessionsHour(h)]));
        const days = [...new Set(chunk.map((m) => Math.floor(m / DAY_MINUTES)))].filter((d) => (d + 1) * DAY_MINUTES <= before);
        if (days.length) del.unlink(...days.flatMap((d) => [keys.countersDay(d), keys.visitorsDay(d), keys.sessionsDay(d)]));
        await this.exec(del);
      }
      total += minutes.length;
    }
    return total;
  }

  /** Deletes every key of a site (offset records included), or of every site; returns keys deleted. */
  async clear(site?: string): Promise<number> {
    let deleted = 0;
    // scanKeys/unlinkKeys: every master of a Redis Cluster, one UNLINK per site slot.
    for await (const keys of scanKeys(this.deps.redis, this.deps.keys.pattern(site))) deleted += await unlinkKeys(this.deps.redis, keys);
    if (site === undefined) await this.deps.redis.unlink(this.deps.keys.sites);
    else await this.deps.redis.srem(this.deps.keys.sites, site);
    return deleted;
  }

  /** Coverage of a site starts no earlier than `from` (after a rebuild from `from`, or a retirement). */
  async raiseCoverageFrom(site: string, from: number): Promise<void> {
    const key = this.deps.keys.site(site).meta;
    const cur = await this.deps.redis.hget(key, 'from');
    if (cur === null || Number(cur) < from) await this.setCoverageFrom(site, from);
  }

  /**
   * A new epoch, done, starting at `from`: the site was cleared for a rebuild from `from` by the
   * caller (speed/rebuild.job.ts), so its consumers apply everything from there on themselves.
   */
  async resetEpoch(site: string, from: number): Promise<void> {
    await new EpochStore(this.deps.redis, this.deps.keys).reset(site, from);
  }

  /** Sets where coverage starts, also backwards (a rebuild re-reads from `from`). */
  async setCoverageFrom(site: string, from: number): Promise<void> {
    const key = this.deps.keys.site(site).meta;
    await this.exec(this.deps.redis.pipeline().hset(key, 'from', String(from)).pexpire(key, this.deps.ttlMs));
  }

  private async exec(pipe: ReturnType<RedisClient['pipeline']>): Promise<unknown[]> {
    const res = await pipe.exec();
    return (res ?? []).map(([err, v]) => {
      if (err) throw new DependencyError('REDIS_WRITE_FAILED', `redis: speed maintenance failed: ${err.message}`, err);
      return v;
    });
  }
}
