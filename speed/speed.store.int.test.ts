/**
 * The Redis side alone, against the real Redis: rollups applied through the Lua script, read
 * back through SpeedReader, compared with ground truth computed from the same events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { EpochStore } from './epoch.store.ts';
import { SpeedMaintenance } from './maintenance.job.ts';
import { SpeedKeys } from './redis.keys.ts';
import { rollupSite, SiteRollupBuilder } from './rollup.aggregator.ts';
import { RollupWriter } from './rollup.writer.ts';
import { SpeedReader } from './speed.reader.ts';
import { traffic } from './testing/speed.fixture.ts';
import type { Metric } from '../core/views.ts';
import { pickMetrics, truthBreakdown, truthSeries, truthTotals } from '../testing/truth.ts';
import type { OffsetEvent } from './types.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';

const TTL = 48 * 3_600_000;
const pos = { topic: 'events', partition: 0 };

describe('speed store on real Redis', () => {
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'speed');
  const writer = new RollupWriter({ redis, keys, ttlMs: TTL });
  const reader = new SpeedReader({ redis, keys, ttlMs: TTL });
  const events = traffic({ events: 20_000 });
  const from = Math.floor(Math.min(...events.map((e) => e.event_time)) / 60_000) * 60_000;
  const to = Date.now();

  /** Applies events as partition batches of `size`, like the consumer (read offset, roll up above it, CAS). */
  async function applyBatches(list: TwinlaneEvent[], size: number, firstOffset = 0): Promise<void> {
    for (let i = 0; i < list.length; i += size) {
      const bySite = new Map<string, OffsetEvent[]>();
      list.slice(i, i + size).forEach((event, j) => {
        const arr = bySite.get(event.site_id) ?? [];
        arr.push({ offset: String(firstOffset + i + j), event });
        bySite.set(event.site_id, arr);
      });
      const applied = await writer.appliedOffsets([...bySite.keys()], pos);
      const items = [...bySite].flatMap(([site, evs]) => {
        const rollup = rollupSite(site, evs, applied.get(site) ?? null);
        return rollup ? [{ rollup, expected: applied.get(site) ?? null }] : [];
      });
      const res = await writer.apply(items, pos);
      expect(res.every((r) => r.applied)).toBe(true);
    }
  }

  beforeAll(async () => {
    // Nothing lost before: every site's epoch covers all of it (speed/epoch.store.ts).
    for (const site of ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'retried']) await new EpochStore(redis, keys).ensure(site, 0, true);
    await applyBatches(events, 1_000);
    // A replay with other batch boundaries (a crash before the Kafka commit) changes nothing.
    await applyBatches(events.slice(0, 7_500), 2_500);
  });
  afterAll(runCleanups);

  it('returns exact page views, events, purchases, revenue, bot page views and bounce rate per minute', async () => {
    const counters: Metric[] = ['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'];
    for (const site of ['alpha', 'beta', 'gamma']) {
      const points = await reader.series({ site, from, to, grain: 'minute', metrics: [...counters, 'bounce_rate'] });
      expect(points.length).toBeGreaterThanOrEqual(59);
      const truth = truthSeries(events, { site, grain: 'minute', from, to });
      for (const p of points) {
        // bounce_rate comes from the visits (contract 9) the apply script cut once, the replay included.
        const { bounce_rate, ...values } = p.values;
        expect(values, `${site} ${new Date(p.start).toISOString()}`).toEqual(pickMetrics(truth.get(p.start)!, counters));
        expect(bounce_rate, `${site} ${new Date(p.start).toISOString()} bounce_rate`).toBeCloseTo(truth.get(p.start)!.bounce_rate, 9);
      }
    }
  });

  it('counts unique visitors by HLL union over the range, within 2%, and per hour', async () => {
    const totals = await reader.totals({ site: 'alpha', from, to, metrics: ['visitors', 'pageviews', 'sessions'] });
    const exact = truthTotals(events, { site: 'alpha', from, to }).visitors;
    expect(Math.abs(totals.visitors! - exact) / exact).toBeLessThan(0.02);
    // Sessions are the server's visits (contract 9), whatever session ids the generator sent.
    const sessions = truthTotals(events, { site: 'alpha', from, to }).sessions;
    expect(Math.abs(totals.sessions! - sessions) / sessions).toBeLessThan(0.02);
    const hours = await reader.series({ site: 'alpha', from, to, grain: 'hour', metrics: ['pageviews', 'visitors'] });
    expect(hours.reduce((s, p) => s + p.values.pageviews!, 0)).toBe(totals.pageviews);
    // Uniques per hour are never the sum of per-minute uniques.
    const minutes = await reader.series({ site: 'alpha', from, to, grain: 'minute', metrics: ['visitors'] });
    expect(minutes.reduce((s, p) => s + p.values.visitors!, 0)).toBeGreaterThan(hours.reduce((s, p) => s + p.values.visitors!, 0));
  });

  it('answers combined filters on the tuple exactly and single-dimension visitors within 2%', async () => {
    const t = await reader.totals({ site: 'beta', from, to, metrics: ['pageviews', 'revenue'], filters: { country: 'DE', device: 'mobile' } });
    const beta = truthTotals(events, { site: 'beta', from, to, filters: { country: 'DE', device: 'mobile' } });
    expect(t.pageviews).toBe(beta.pageviews);
    expect(t.revenue).toBe(beta.revenue);
    const signups = await reader.totals({ site: 'beta', from, to, metrics: ['events'], eventName: 'signup' });
    expect(signups.events).toBe(truthTotals(events, { site: 'beta', from, to, eventName: 'signup' }).events);
    const v = await reader.totals({ site: 'beta', from, to, metrics: ['visitors'], filters: { country: 'DE' } });
    const exact = truthTotals(events, { site: 'beta', from, to, filters: { country: 'DE' } }).visitors;
    expect(Math.abs(v.visitors! - exact) / exact).toBeLessThan(0.02);
    await expect(reader.totals({ site: 'beta', from, to, metrics: ['visitors'], filters: { country: 'DE', device: 'mobile' } })).rejects.toThrow(/single/);
    await expect(reader.totals({ site: 'beta', from, to, metrics: ['events'], filters: { page: '/' } })).rejects.toMatchObject({ code: 'UNSUPPORTED_BY_SOURCE' });
    const home = await reader.totals({ site: 'beta', from, to, metrics: ['pageviews'], filters: { page: '/' } });
    expect(home.pageviews).toBe(truthTotals(events, { site: 'beta', from, to, filters: { page: '/' } }).pageviews);
  });

  it('ranks pages, referrers and countries exactly', async () => {
    const top5 = (dimension: 'page' | 'country' | 'referrer') => truthBreakdown(events, { site: 'gamma', from, to, dimension, metric: 'pageviews' }).slice(0, 5);
    const pages = await reader.breakdown({ site: 'gamma', from, to, dimension: 'page', metric: 'pageviews', limit: 5 });
    expect(pages.map((r) => r.count)).toEqual(top5('page').map((r) => r.count));
    expect(await reader.breakdown({ site: 'gamma', from, to, dimension: 'country', metric: 'pageviews', limit: 5 })).toEqual(top5('country'));
    // Direct visits rank as `(direct)` like in batch (they were left out before the labels were one).
    const refs = await reader.breakdown({ site: 'gamma', from, to, dimension: 'referrer', metric: 'pageviews', limit: 5 });
    expect(refs.map((r) => r.count)).toEqual(top5('referrer').map((r) => r.count));
    expect(refs.map((r) => r.value)).toContain('(direct)');
    const byCountry = await reader.breakdown({ site: 'gamma', from, to, dimension: 'country', metric: 'visitors', limit: 3 });
    expect(byCountry).toHaveLength(3);
    const exact = truthTotals(events, { site: 'gamma', from, to, filters: { country: byCountry[0]!.value } }).visitors;
    expect(Math.abs(byCountry[0]!.count - exact) / exact).toBeLessThan(0.02);
  });

  it('answers top pages and referrers over hours from the hour keys exactly as the truth', async () => {
    // Three hours and more of one site: the whole hours come from `pgh`/`rfh`, the edges from minutes.
    const now = Date.now();
    const long = traffic({ events: 6_000, sites: ['zeta'], from: now - 200 * 60_000, to: now - 60_000 });
    for (const site of ['zeta']) await new EpochStore(redis, keys).ensure(site, 0, true);
    await applyBatches(long, 1_000, 1_000_000);
    const a = Math.floor((now - 190 * 60_000) / 60_000) * 60_000 + 17 * 60_000;
    const z = Math.floor(now / 60_000) * 60_000;
    for (const dimension of ['page', 'referrer'] as const) {
      const rows = await reader.breakdown({ site: 'zeta', from: a, to: z, dimension, metric: 'pageviews', limit: 1_000 });
      const truth = truthBreakdown(long, { site: 'zeta', from: a, to: z, dimension, metric: 'pageviews' });
      expect(truth.length).toBeGreaterThan(3);
      expect(new Map(rows.map((r) => [r.value, r.count])), dimension).toEqual(new Map(truth.map((r) => [r.value, r.count])));
    }
    expect(await redis.exists(keys.site('zeta').pagesHour(Math.floor(a / 3_600_000) + 1))).toBe(1);
  });

  it('unites its visitor sketches with extra ids without counting anyone twice, streamed in chunks, their sketch kept by key', async () => {
    const ids = [...new Set(events.filter((e) => e.site_id === 'alpha' && !e.is_bot).map((e) => e.visitor_id))];
    let reads = 0;
    const extra = (list: string[], key?: string) => ({
      ...(key ? { key } : {}),
      ids: async function* () {
        reads++;
        for (let i = 0; i < list.length; i += 300) yield list.slice(i, i + 300);
      },
    });
    const alone = await reader.visitorsUnion('alpha', from, to, extra([]));
    const withSame = await reader.visitorsUnion('alpha', from, to, extra(ids.slice(0, 500)));
    expect(withSame).toBe(alone);
    const batchOnly = Array.from({ length: 25_000 }, (_, i) => `batch-only-${i}`);
    const withNew = await reader.visitorsUnion('alpha', from, to, extra(batchOnly, 'v1|alpha|new'));
    expect(Math.abs(withNew - (ids.length + 25_000)) / (ids.length + 25_000)).toBeLessThan(0.02);
    // The same key again: its sketch is reused, the ids are not read a second time.
    const before = reads;
    expect(await reader.visitorsUnion('alpha', from, to, extra(batchOnly, 'v1|alpha|new'))).toBe(withNew);
    expect(reads).toBe(before);
    // No temporary key is left behind.
    expect(await redis.keys(`${keys.site('alpha').temp('*')}`)).toEqual([]);
  });

  it('puts a TTL on every key but the offset records and epochs, also on keys written before a compare-and-set that lost', async () => {
    /** TTLs of the data keys; the offset records and epochs (never expiring: no eviction policy may take them) checked on the way. */
    const ttlOf = async (pattern: string): Promise<number[]> => {
      const out: number[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
        cursor = next;
        for (const k of found) {
          if (k.endsWith(':off') || k.endsWith(':ep')) expect(await redis.pttl(k), k).toBe(-1);
          else out.push(await redis.pttl(k));
        }
      } while (cursor !== '0');
      return out;
    };
    const all = await ttlOf(keys.pattern());
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter((t) => t <= 0)).toEqual([]);
    expect(await redis.pttl(keys.site('alpha').offsets)).toBe(-1);
    // A stale writer: its expected offset is wrong, so no counter moves, yet the sketch keys its
    // idempotent part created (a minute never seen before) carry a TTL.
    const lone = keys.site('delta');
    const late = events.filter((e) => e.site_id === 'alpha').slice(0, 50).map((e, i) => ({ offset: String(i), event: { ...e, site_id: 'delta' } }));
    await redis.hset(lone.offsets, 'events:0', '999');
    const [res] = await writer.apply([{ rollup: rollupSite('delta', late)!, expected: null }], pos);
    expect(res).toEqual({ applied: false, currentOffset: '999' });
    expect(await redis.exists(lone.counters(Math.floor(late[0]!.event.event_time / 60_000)))).toBe(0);
    const delta = await ttlOf(keys.pattern('delta'));
    expect(delta.length).toBeGreaterThan(3);
    expect(delta.filter((t) => t <= 0)).toEqual([]);
  });

  it('applies one rollup of two partitions only if both records hold what it expects, moving both', async () => {
    const site = 'epsilon';
    const sk = keys.site(site);
    const evs = traffic({ events: 400, sites: [site], botFraction: 0 }).filter((e) => e.type === 'pageview');
    const [p0, p1] = [evs.filter((_, i) => i % 2 === 0), evs.filter((_, i) => i % 2 === 1)];
    const merged = new SiteRollupBuilder(site, null);
    p0.forEach((e, i) => merged.add(String(i), e));
    const other = new SiteRollupBuilder(site, null);
    p1.forEach((e, i) => other.add(String(i), e));
    merged.absorb(other);
    const rollup = merged.result()!;
    const offsets = [
      { field: 'events:0', expected: null, next: String(p0.length - 1) },
      { field: 'events:1', expected: '7', next: String(p1.length - 1) },
    ];
    // Partition 1's record is not at 7: nothing is counted, both records are reported.
    await redis.hset(sk.offsets, 'events:1', '3');
    expect(await writer.applyMany([{ rollup, offsets }])).toEqual([{ applied: false, current: [null, '3'] }]);
    const total = () => reader.totals({ site, from, to, metrics: ['pageviews'] });
    expect((await total()).pageviews).toBe(0);
    await redis.hset(sk.offsets, 'events:1', '7');
    expect(await writer.applyMany([{ rollup, offsets }])).toEqual([{ applied: true }]);
    expect((await total()).pageviews).toBe(evs.length);
    expect(await redis.hmget(sk.offsets, 'events:0', 'events:1')).toEqual([String(p0.length - 1), String(p1.length - 1)]);
    // The same round again finds both records moved: counted once.
    expect(await writer.applyMany([{ rollup, offsets }])).toEqual([{ applied: false, current: [String(p0.length - 1), String(p1.length - 1)] }]);
    expect((await total()).pageviews).toBe(evs.length);
  });

  it('writes nothing of a rollup recording an id another record counted, and takes its own replay for a replay', async () => {
    const site = 'retried';
    const dedupeWriter = new RollupWriter({ redis, keys, ttlMs: TTL, dedupeMs: 600_000 });
    const evs = traffic({ events: 200, sites: [site], botFraction: 0 }).filter((e) => e.type === 'pageview');
    const build = (partition: number, list: TwinlaneEvent[], exclude?: ReadonlySet<string>) => {
      const b = new SiteRollupBuilder(site, null, { tag: `${partition}:`, ...(exclude ? { exclude } : {}) });
      list.forEach((e, i) => b.add(String(i), e));
      return b.result()!;
    };
    const total = async () => (await reader.totals({ site, from, to, metrics: ['pageviews'] })).pageviews;
    const first = build(0, evs);
    const at0 = { field: 'retries:0', expected: null, next: first.maxOffset };
    expect(await dedupeWriter.applyMany([{ rollup: first, offsets: [at0] }])).toEqual([{ applied: true }]);
    expect(await total()).toBe(evs.length);
    // A client's retry of the 5th event, on partition 1 after 9 new events: nothing of the call is written.
    const fresh = traffic({ events: 40, sites: [site], botFraction: 0, seed: 99 }).filter((e) => e.type === 'pageview').slice(0, 9);
    const retry = build(1, [...fresh, evs[4]!]);
    const at1 = { field: 'retries:1', expected: null, next: retry.maxOffset };
    expect(await dedupeWriter.applyMany([{ rollup: retry, offsets: [at1] }])).toEqual([{ applied: false, current: [null], duplicates: true }]);
    expect(await total()).toBe(evs.length);
    expect(await redis.hget(keys.site(site).offsets, 'retries:1')).toBeNull();
    // Partition 0's own batch again (a replay: the ids are its own): no copy, refused by its offset record only.
    expect(await dedupeWriter.applyMany([{ rollup: first, offsets: [at0] }])).toEqual([{ applied: false, current: [first.maxOffset] }]);
    expect(await total()).toBe(evs.length);
    // Folded again without the copy (offset 9), the retry's batch is written: the 9 new events count, the copy does not.
    expect(await dedupeWriter.applyMany([{ rollup: build(1, [...fresh, evs[4]!], new Set(['9'])), offsets: [at1] }])).toEqual([{ applied: true }]);
    expect(await total()).toBe(evs.length + fresh.length);
  });

  it('serves realtime figures for the last minutes', async () => {
    // The realtime windows end with the reader's current minute: with the wall clock, a minute
    // turning between sending and reading moved the oldest sent minute out of the last five.
    // The traffic and the reader share one pinned instant.
    const at = Date.now();
    const live = traffic({ events: 300, sites: ['live'], from: at - 4 * 60_000, to: at });
    await applyBatches(live, 100, 1_000_000);
    const r = await new SpeedReader({ redis, keys, ttlMs: TTL, clock: () => at }).realtime('live');
    expect(r.pageviewsPerMinute).toHaveLength(30);
    expect(r.pageviewsPerMinute.reduce((s, p) => s + p.pageviews, 0)).toBe(live.filter((e) => !e.is_bot && e.type === 'pageview').length);
    const exact = truthTotals(live, { site: 'live', from: -Infinity, to: Infinity }).visitors;
    expect(Math.abs(r.visitorsLast5m - exact) / exact).toBeLessThan(0.02);
  });

  it('retires buckets before W and clears a site with its offset records', async () => {
    const maintenance = new SpeedMaintenance({ redis, keys, ttlMs: TTL });
    const w = from + 30 * 60_000;
    const retired = await maintenance.retireBefore(w, 'gamma');
    expect(retired).toBeGreaterThan(25);
    expect((await reader.coverage('gamma'))!.from).toBe(w);
    const t = await reader.totals({ site: 'gamma', from, to, metrics: ['pageviews'] });
    expect(t.pageviews).toBe(events.filter((e) => e.site_id === 'gamma' && !e.is_bot && e.type === 'pageview' && e.event_time >= w).length);
    expect(await redis.exists(keys.site('gamma').counters(Math.floor(from / 60_000)))).toBe(0);
    const ttl = await redis.pttl(keys.site('gamma').counters(Math.floor(w / 60_000)));
    expect(ttl).toBeGreaterThan(TTL - 3_600_000);
    await maintenance.clear('gamma');
    expect(await redis.exists(keys.site('gamma').offsets, keys.site('gamma').index)).toBe(0);
    expect(await redis.exists(keys.site('alpha').offsets)).toBe(1);
    expect(await maintenance.sites()).not.toContain('gamma');
  });
});
