/**
 * Hour and day keys (issue 19, serving without its cache): unfiltered counters, visitors and
 * sessions are also kept per hour and per UTC day, and the reader answers a range from a day's key
 * for each whole day, an hour's for each whole hour, and minutes at the edges. Against the real
 * Redis and the test kit's truth:
 * - totals and day/hour series over six days (partial first and last days) equal the truth
 *   (counts exactly, uniques within the sketch bound), the union with extra ids too;
 * - the union of three past days or more is made once and deleted by the first write that reaches
 *   one of its days (a late event), so the next count includes it;
 * - the coarse keys are what is read: with every minute key of a whole day deleted, that day's
 *   answer is unchanged; with its day key deleted instead, it is not;
 * - retiring before W deletes the hour and day keys wholly before W, and the day holding W is
 *   answered from its hours and minutes after W only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { truthSeries, truthTotals } from '../testing/truth.ts';
import { HLL_TOLERANCE, withinSketchBound } from '../testing/truth.assert.ts';
import type { Metric } from '../core/views.ts';
import { SpeedMaintenance } from './maintenance.job.ts';
import { DAY_MINUTES, SpeedKeys } from './redis.keys.ts';
import { SpeedReader, coarseSources } from './speed.reader.ts';
import { applyEvents } from './testing/speed.fixture.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';

const DAY = 86_400_000;
const TTL = 6 * DAY;
const COUNTERS: Metric[] = ['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'];

describe('hour and day keys of the speed store', () => {
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'coarse');
  const reader = new SpeedReader({ redis, keys, ttlMs: TTL });
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  // From 05:17 six days ago to a minute ago: four whole days, partial days at both ends.
  const from = today - 5 * DAY + 5 * 3_600_000 + 17 * 60_000;
  const to = Math.floor(now / 60_000) * 60_000;
  const events = [...generateTraffic({ seed: 19, sites: ['alpha', 'beta'], from, to: to - 60_000, events: 12_000, visitorsPerSite: 1_500 })];

  beforeAll(async () => {
    await applyEvents({ redis, keys, ttlMs: TTL }, events, 2_000);
  }, 60_000);
  afterAll(runCleanups);

  it('splits a span into whole days, whole hours and edge minutes', () => {
    const d = 20_000 * DAY_MINUTES;
    expect(coarseSources({ from: d - 61, to: d + DAY_MINUTES + 125 })).toEqual({
      days: [20_000],
      hours: [d / 60 - 1, d / 60 + 24, d / 60 + 25],
      minutes: [d - 61, d + DAY_MINUTES + 120, d + DAY_MINUTES + 121, d + DAY_MINUTES + 122, d + DAY_MINUTES + 123, d + DAY_MINUTES + 124],
    });
    expect(coarseSources({ from: 5, to: 5 })).toEqual({ days: [], hours: [], minutes: [] });
    // A span that reaches now: today's key and this hour's stand for the rest of them.
    expect(coarseSources({ from: d - 61, to: d + 125 }, true)).toEqual({ days: [20_000], hours: [d / 60 - 1], minutes: [d - 61] });
    expect(coarseSources({ from: d + 60, to: d + 125 }, true)).toEqual({ days: [], hours: [d / 60 + 1, d / 60 + 2], minutes: [] });
  });

  it('answers totals and day and hour series equal to the truth', async () => {
    for (const site of ['alpha', 'beta']) {
      const got = await reader.totals({ site, from, to, metrics: [...COUNTERS, 'visitors', 'sessions'] });
      const want = truthTotals(events, { site, from, to });
      for (const m of COUNTERS) expect(got[m], `${site} ${m}`).toBe(m === 'revenue' ? want.revenue : want[m]);
      expect(withinSketchBound(got.visitors!, want.visitors), `${site} visitors ${got.visitors} vs ${want.visitors}`).toBe(true);
      expect(withinSketchBound(got.sessions!, want.sessions), `${site} sessions ${got.sessions} vs ${want.sessions}`).toBe(true);
      for (const grain of ['day', 'hour'] as const) {
        const series = await reader.series({ site, from, to, grain, metrics: ['pageviews', 'revenue', 'visitors'] });
        const truth = truthSeries(events, { site, grain, from, to });
        expect(truth.size).toBeGreaterThan(0);
        for (const [start, w] of truth) {
          const p = series.find((x) => x.start === start);
          expect(p, `${site} ${grain} ${new Date(start).toISOString()}`).toBeDefined();
          expect(p!.values.pageviews).toBe(w.pageviews);
          expect(p!.values.revenue).toBe(w.revenue);
          expect(withinSketchBound(p!.values.visitors!, w.visitors), `${site} ${grain} visitors ${new Date(start).toISOString()}`).toBe(true);
        }
      }
      const union = await reader.visitorsUnion(site, from, to, { ids: async function* () {} });
      expect(Math.abs(union - want.visitors) / want.visitors).toBeLessThan(HLL_TOLERANCE);
    }
  });

  it('counts past days through their union, made once and deleted when a late write reaches one of them', async () => {
    const q = { site: 'alpha', from, to, metrics: ['visitors', 'sessions'] as Metric[] };
    const site = keys.site('alpha');
    const unionKey = site.daysUnion('visitors', Math.floor(from / DAY) + 1, today / DAY);
    await redis.unlink(unionKey); // the previous test's totals made it already
    const first = await reader.totals(q);
    expect(await redis.exists(unionKey)).toBe(1);
    expect(await redis.sismember(site.daysUnions, unionKey)).toBe(1);
    expect(await reader.totals(q)).toEqual(first);
    // 300 new visitors on a day inside the union, arriving late (offsets after the others).
    const lateDay = today - 3 * DAY + 12 * 3_600_000;
    const template = events.find((e) => e.site_id === 'alpha' && e.type === 'pageview' && !e.is_bot)!;
    const late: TwinlaneEvent[] = Array.from({ length: 300 }, (_, i) => ({ ...template, event_id: `late-${i}`, visitor_id: `late-visitor-${i}`, session_id: `late-s-${i}`, event_time: lateDay + i * 1_000 }));
    await applyEvents({ redis, keys, ttlMs: TTL }, late, 300, { topic: 'events', partition: 1 });
    expect(await redis.exists(unionKey)).toBe(0);
    const after = await reader.totals(q);
    const want = truthTotals([...events, ...late], { site: 'alpha', from, to });
    expect(withinSketchBound(after.visitors!, want.visitors), `visitors ${after.visitors} vs ${want.visitors}`).toBe(true);
    expect(after.visitors! - first.visitors!).toBeGreaterThan(200);
    events.push(...late);
  });

  it('reads the day key for a whole day (and not its minutes)', async () => {
    const day = today - 2 * DAY;
    const q = { site: 'alpha', from: day, to: day + DAY, metrics: ['pageviews', 'visitors'] as Metric[] };
    const before = await reader.totals(q);
    expect(before.pageviews).toBeGreaterThan(0);
    const site = keys.site('alpha');
    const minutes = Array.from({ length: DAY_MINUTES }, (_, i) => day / 60_000 + i);
    await redis.unlink(...minutes.flatMap((m) => [site.counters(m), site.visitors(m)]));
    expect(await reader.totals(q)).toEqual(before);
    await redis.unlink(site.countersDay(day / DAY), site.visitorsDay(day / DAY));
    expect((await reader.totals(q)).pageviews).toBe(0);
  });

  it('retires the hour and day keys before W; the day holding W answers from after W only', async () => {
    const w = today - DAY + 7 * 3_600_000 + 30 * 60_000;
    await new SpeedMaintenance({ redis, keys, ttlMs: TTL }).retireBefore(w, 'beta');
    const site = keys.site('beta');
    const wDay = Math.floor(w / DAY);
    expect(await redis.exists(site.countersDay(wDay - 1), site.visitorsDay(wDay - 1), site.countersHour(Math.floor(w / 3_600_000) - 1))).toBe(0);
    expect(await redis.exists(site.countersDay(wDay))).toBe(1);
    const got = await reader.totals({ site: 'beta', from: today - 2 * DAY, to, metrics: ['pageviews', 'purchases'] });
    const want = truthTotals(events, { site: 'beta', from: w, to });
    expect(got.pageviews).toBe(want.pageviews);
    expect(got.purchases).toBe(want.purchases);
  });
});
