/**
 * Redis stays bounded whatever clients send (issue: safe on the internet, part 2): distinct pages,
 * referrers and dimension tuples of a site's minute are capped, past the cap they count under
 * `(other)` and totals stay exact; a full Redis (maxmemory, noeviction) pauses the consumer, and
 * every event is counted once it has room again. Real Redis (the shared one, and a private
 * redis-server for the full one), the real broker, the real apply script.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { privateRedis, runCleanups, testConfig, testRedis, waitUntil } from '../testing/helpers.ts';
import { truthBreakdown, truthTotals } from '../testing/truth.ts';
import { OTHER_MEMBER } from './apply.script.ts';
import { SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { applyEvents, consumerOnTopic, traffic } from './testing/speed.fixture.ts';

const CAP = 100;
const TTL = 3_600_000;

/** Every page view on a path and with UTM tags of its own, as a hostile client would send them. */
function hostile(events: TwinlaneEvent[]): TwinlaneEvent[] {
  return events.map((e, i) => ({ ...e, path: `/p/${i}-${'x'.repeat(40)}`, utm_source: `campaign-${i}`, utm_medium: `medium-${i}`, utm_campaign: `c${i}`, utm_term: `term ${i}`, utm_content: `content-${i}`, referrer_host: `r${i}.example` }));
}

async function memoryOf(redis: SpeedReaderRedis, keys: string[]): Promise<number> {
  let n = 0;
  for (const k of keys) n += Number((await redis.call('MEMORY', 'USAGE', k)) ?? 0);
  return n;
}
type SpeedReaderRedis = ReturnType<typeof testRedis>['redis'];

describe('a bounded speed store', () => {
  afterAll(runCleanups);

  it('caps distinct members per site and minute at SPEED_MAX_MEMBERS: totals exact, (other) holds the rest, memory bounded', async () => {
    const config = testConfig();
    const { redis, prefix } = testRedis(config);
    const start = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    // Two minutes with more than ten times the cap of distinct paths, referrers and campaigns each.
    const events = hostile(traffic({ events: 5_000, sites: ['alpha'], from: start, to: start + 2 * 60_000 }));
    const site = 'alpha';
    const capped = new SpeedKeys(prefix + 'capped');
    const uncapped = new SpeedKeys(prefix + 'uncapped');
    await applyEvents({ redis, keys: capped, ttlMs: TTL, maxMembers: CAP }, events, 500);
    await applyEvents({ redis, keys: uncapped, ttlMs: TTL, maxMembers: 1_000_000 }, events, 500);

    const range = { site, from: start, to: start + 2 * 60_000 };
    for (const minute of [start / 60_000, start / 60_000 + 1]) {
      const pvs = events.filter((e) => Math.floor(e.event_time / 60_000) === minute && e.type === 'pageview' && !e.is_bot).length;
      expect(pvs, 'the minute holds ten times the cap of distinct paths').toBeGreaterThanOrEqual(10 * CAP);
      const k = capped.site(site);
      expect(await redis.zcard(k.pages(minute))).toBeLessThanOrEqual(CAP + 1);
      expect(await redis.zcard(k.referrers(minute))).toBeLessThanOrEqual(CAP + 1);
      // The cap, an (other) tuple per kind and the few aggregate fields.
      expect(await redis.hlen(k.counters(minute))).toBeLessThanOrEqual(CAP + 20);
      const keysOf = (s: SpeedKeys) => [s.site(site).pages(minute), s.site(site).referrers(minute), s.site(site).counters(minute)];
      const [small, large] = [await memoryOf(redis, keysOf(capped)), await memoryOf(redis, keysOf(uncapped))];
      // A member costs some tens of bytes beyond its text; the cap bounds the minute whatever is sent.
      expect(small, `${small} bytes capped, ${large} uncapped`).toBeLessThan(3 * (CAP + 20) * 250);
      expect(large / small).toBeGreaterThan(5);
    }

    const reader = new SpeedReader({ redis, keys: capped, ttlMs: TTL });
    const truth = truthTotals(events, range);
    const totals = await reader.totals({ ...range, metrics: ['pageviews', 'events', 'purchases', 'bot_pageviews'] });
    expect(totals).toEqual({ pageviews: truth.pageviews, events: truth.events, purchases: truth.purchases, bot_pageviews: truth.bot_pageviews });
    expect(truth.pageviews).toBeGreaterThan(20 * CAP);

    for (const dimension of ['page', 'referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'channel'] as const) {
      const rows = await reader.breakdown({ ...range, dimension, metric: 'pageviews', limit: 100_000 });
      const other = rows.find((r) => r.value === OTHER_MEMBER);
      expect(other, `${dimension}: an (other) row`).toBeDefined();
      expect(rows.reduce((n, r) => n + r.count, 0), `${dimension}: the rows add up to every page view`).toBe(truth.pageviews);
      // What was kept is exact: each kept value's count is its truth. A channel is shared by many
      // tuples, some of them folded whole into (other): its kept row holds the tuples kept.
      const exact = new Map(truthBreakdown(events, { ...range, dimension, metric: 'pageviews' }).map((r) => [r.value, r.count]));
      const kept = rows.filter((r) => r.value !== OTHER_MEMBER);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThanOrEqual(dimension === 'channel' ? exact.size : 2 * (CAP + 1));
      for (const r of kept) {
        if (dimension === 'channel') expect(r.count, `${dimension} ${r.value}`).toBeLessThanOrEqual(exact.get(r.value)!);
        else expect(r.count, `${dimension} ${r.value}`).toBe(exact.get(r.value));
      }
      expect(other!.count).toBe(truth.pageviews - kept.reduce((n, r) => n + r.count, 0));
    }
  });

  it('a full Redis (maxmemory, noeviction) pauses the consumer, and every event counts once there is room', async () => {
    const config = testConfig();
    const { redis } = await privateRedis(2 * 2 ** 20);
    const events = traffic({ events: 20_000 });
    const fx = await consumerOnTopic(config, redis, { name: 'speed-full', partitions: 2, watermark: null, options: { keyPrefix: 'full' } });
    const { options } = fx;
    await fx.produce(events);

    const gauge = fx.metric;
    await waitUntil('the consumer to find Redis full', async () => (await gauge('speed_redis_full')) === 1, 60_000, 100);
    // It keeps waiting, neither crashing nor dropping the batch.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(fx.fatal()).toBeUndefined();
    expect(await gauge('speed_redis_full')).toBe(1);
    expect(await gauge('speed_redis_full_waits_total')).toBeGreaterThan(1);

    await redis.config('SET', 'maxmemory', '0');
    const reader = new SpeedReader({ redis, keys: new SpeedKeys(options.keyPrefix), ttlMs: options.ttlMs });
    const from = Math.floor(events[0]!.event_time / 60_000) * 60_000;
    const to = Date.now() + 60_000;
    const sites = [...new Set(events.map((e) => e.site_id))];
    const metricsOf = ['pageviews', 'events', 'purchases', 'bot_pageviews'] as const;
    const counted = async () => {
      for (const site of sites) {
        const got = await reader.totals({ site, from, to, metrics: [...metricsOf] });
        const want = truthTotals(events, { site, from, to });
        if (metricsOf.some((m) => got[m] !== want[m])) return false;
      }
      return true;
    };
    await waitUntil('every event counted once Redis has room', counted, 60_000, 250);
    // And not more than once: stays equal after the consumer settles.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const site of sites) {
      const want = truthTotals(events, { site, from, to });
      expect(await reader.totals({ site, from, to, metrics: [...metricsOf] }), site).toEqual(Object.fromEntries(metricsOf.map((m) => [m, want[m]])));
    }
    await waitUntil('the full gauge back to 0', async () => (await gauge('speed_redis_full')) === 0, 10_000, 100);
    expect(fx.fatal()).toBeUndefined();
    expect(await gauge('speed_dead_letters_total')).toBeNaN();
    await fx.stop();
  }, 120_000);
});
