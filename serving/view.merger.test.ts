import { describe, expect, it } from 'vitest';
import { alignDown, type SeriesQuery, type ViewReader } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { truthBreakdown, truthTotals } from '../testing/truth.ts';
import { MemoryViewReader } from './memory-view.reader.ts';
import { mergeBreakdown, mergeSeries, mergeTotals, seriesBounds } from './view.merger.ts';
import type { BatchViews, MergedPoint } from './types.ts';

const H = 3_600_000;
const D = 86_400_000;
const DAY0 = Date.UTC(2026, 0, 1);
const W = DAY0 + 2 * D;
const NOW = W + 12 * H + 17 * 60_000;
const events = [...generateTraffic({ seed: 7, sites: ['a', 'b'], from: DAY0, to: NOW, events: 6_000, visitorsPerSite: 300 })];

function readers(speedFrom = DAY0 + D + 12 * H, speedTo = NOW) {
  const batch = new MemoryViewReader({ source: 'batch', events, coverage: { a: { from: DAY0, to: W }, b: { from: DAY0, to: W } }, version: 'v7' });
  const speed = new MemoryViewReader({ source: 'speed', events, coverage: { a: { from: speedFrom, to: speedTo } } });
  return { batch, speed };
}

function truth(from: number, to: number, site = 'a') {
  return truthTotals(events, { site, from, to });
}

const q = (over: Partial<SeriesQuery> = {}): SeriesQuery => ({ site: 'a', from: DAY0 + D, to: NOW + H, grain: 'hour', metrics: ['pageviews', 'visitors'], ...over });

describe('mergeSeries', () => {
  it('takes buckets before W from batch and at or after W from speed, each with its provenance', async () => {
    const { batch, speed } = readers();
    const r = await mergeSeries(q(), { batch, speed, choice: 'merged', now: NOW });
    expect(r.meta.watermark).toBe(W);
    expect(r.meta.batchVersion).toBe('v7');
    expect(r.points).toHaveLength(24 + 13);
    for (const p of r.points) {
      const t = truth(p.start, p.start + H);
      expect(p.source).toBe(p.start < W ? 'batch' : 'speed');
      expect(p.exact).toBe(p.start < W);
      expect(p.values.pageviews).toBe(t.pageviews);
      expect(p.values.visitors).toBe(t.visitors);
    }
    // Speed was never asked for what batch covers, and batch never past W.
    expect(speed.calls.every((c) => c.from >= W)).toBe(true);
    expect(batch.calls.every((c) => c.to <= W)).toBe(true);
  });

  it('marks buckets nobody covers as missing with null values, never zero', async () => {
    const { batch, speed } = readers(W + 3 * H);
    const r = await mergeSeries(q(), { batch, speed, choice: 'merged', now: NOW });
    const gap = r.points.filter((p) => p.start >= W && p.start < W + 3 * H);
    expect(gap).toHaveLength(3);
    for (const p of gap) expect(p).toMatchObject({ status: 'missing', source: null, values: { pageviews: null, visitors: null } });
    expect(r.meta.complete).toBe(false);
    expect(r.meta.missingBuckets).toBe(3);
  });

  it('marks a bucket whose speed coverage ends inside it as partial, and the current bucket as complete', async () => {
    const lagging = readers(DAY0 + D, NOW - 30 * 60_000);
    const r = await mergeSeries(q(), { ...lagging, choice: 'merged', now: NOW });
    // Coverage ends at 11:47 of the day after W, now is 12:17: 11:00 is partial, 12:00 missing.
    const [before, last] = r.points.slice(-2) as [MergedPoint, MergedPoint];
    expect(last.start).toBe(alignDown(NOW, 'hour'));
    expect(last.status).toBe('missing');
    expect(before).toMatchObject({ status: 'partial', source: 'speed', exact: false });
    expect(before.values.pageviews).toBe(truth(before.start, NOW - 30 * 60_000).pageviews);
    expect(r.meta.partialBuckets).toBe(1);
    const live = readers(DAY0 + D, NOW);
    const r2 = await mergeSeries(q(), { ...live, choice: 'merged', now: NOW });
    expect(r2.points.at(-1)!.status).toBe('ok');
    expect(r2.meta.complete).toBe(true);
  });

  it('treats a bucket inside batch coverage that batch did not return as missing (a day not computed)', async () => {
    const { batch, speed } = readers();
    const holey: BatchViews = Object.assign(Object.create(batch) as MemoryViewReader, {
      series: async (s: SeriesQuery) => (await batch.series(s)).filter((p) => p.start < DAY0 + D || p.start >= DAY0 + D + 6 * H),
    });
    const r = await mergeSeries(q(), { batch: holey, speed, choice: 'merged', now: NOW });
    expect(r.points.filter((p) => p.status === 'missing').map((p) => (p.start - DAY0 - D) / H)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('serves one side only when the operator asks with source=', async () => {
    const { batch, speed } = readers();
    const b = await mergeSeries(q(), { batch, speed, choice: 'batch', now: NOW });
    expect(b.points.filter((p) => p.source === 'batch')).toHaveLength(24);
    expect(b.points.filter((p) => p.start >= W).every((p) => p.status === 'missing')).toBe(true);
    const s = await mergeSeries(q(), { batch, speed, choice: 'speed', now: NOW });
    expect(s.points.filter((p) => p.start < DAY0 + D + 12 * H).every((p) => p.status === 'missing')).toBe(true);
    expect(s.points.filter((p) => p.start >= DAY0 + D + 12 * H).every((p) => p.source === 'speed')).toBe(true);
  });

  it('serves everything from speed when no batch version exists yet', async () => {
    const { speed } = readers(DAY0);
    const r = await mergeSeries(q(), { batch: null, speed, choice: 'merged', now: NOW });
    expect(r.meta.watermark).toBeNull();
    expect(r.points.every((p) => p.source === 'speed')).toBe(true);
  });

  it('never returns buckets after the one holding now', () => {
    expect(seriesBounds(DAY0, DAY0 + 10 * D, 'day', DAY0 + 2 * D + 5)).toEqual({ from: DAY0, to: DAY0 + 3 * D });
  });
});

describe('mergeTotals', () => {
  it('counts a visitor seen on both sides of W once (batch ids into the speed union)', async () => {
    const { batch, speed } = readers();
    const from = DAY0 + D + 12 * H;
    const r = await mergeTotals({ site: 'a', from, to: NOW, metrics: ['visitors', 'pageviews', 'revenue', 'sessions'] }, { batch, speed, choice: 'merged', now: NOW });
    const t = truth(from, NOW);
    const sumOfSides = truth(from, W).visitors + truth(W, NOW).visitors;
    expect(t.visitors).toBeLessThan(sumOfSides); // the fixture really has visitors on both sides
    expect(r.values.visitors).toBe(t.visitors);
    expect(r.values.pageviews).toBe(t.pageviews);
    expect(r.values.revenue).toBe(t.revenue); // integer micros on both sides: exact, and it really holds purchases
    expect(t.revenue).toBeGreaterThan(0);
    expect(r.uniques).toBe('union');
    expect(r.sources).toEqual(['batch', 'speed']);
    expect(speed.calls.find((c) => c.method === 'visitorsUnion')).toMatchObject({ from: W, to: NOW });
  });

  it('adds the sides and says it is an upper bound when a store cannot do its half of the union', async () => {
    const { batch, speed } = readers();
    const plain: ViewReader = { source: 'speed', exact: false, coverage: (s) => speed.coverage(s), series: (x) => speed.series(x), totals: (x) => speed.totals(x), breakdown: (x) => speed.breakdown(x) };
    const from = DAY0 + D + 12 * H;
    const r = await mergeTotals({ site: 'a', from, to: NOW, metrics: ['visitors'] }, { batch, speed: plain, choice: 'merged', now: NOW });
    expect(r.uniques).toBe('sum-upper-bound');
    expect(r.values.visitors).toBe(truth(from, W).visitors + truth(W, NOW).visitors);
  });

  it('weights bounce rate by each side’s sessions', async () => {
    const { batch, speed } = readers();
    const r = await mergeTotals({ site: 'a', from: DAY0 + D + 12 * H, to: NOW, metrics: ['bounce_rate'] }, { batch, speed, choice: 'merged', now: NOW });
    const b = truth(DAY0 + D + 12 * H, W);
    const s = truth(W, NOW);
    expect(r.values.bounce_rate).toBeCloseTo((b.bounce_rate * b.sessions + s.bounce_rate * s.sessions) / (b.sessions + s.sessions), 9);
    expect(Object.keys(r.values)).toEqual(['bounce_rate']);
  });

  it('reports the uncovered part of the range', async () => {
    const { batch, speed } = readers(W + H);
    const r = await mergeTotals({ site: 'a', from: DAY0 + D, to: NOW, metrics: ['pageviews'] }, { batch, speed, choice: 'merged', now: NOW });
    expect(r.meta.complete).toBe(false);
    expect(r.meta.missingBuckets).toBe(60);
    expect(r.values.pageviews).toBe(truth(DAY0 + D, W).pageviews + truth(W + H, NOW).pageviews);
  });

  it('answers null, not zero, for a site neither side covers', async () => {
    const { batch, speed } = readers();
    const r = await mergeTotals({ site: 'zzz', from: DAY0, to: NOW, metrics: ['pageviews'] }, { batch, speed, choice: 'merged', now: NOW });
    expect(r.values.pageviews).toBeNull();
    expect(r.meta.complete).toBe(false);
  });
});

describe('mergeBreakdown', () => {
  it('sums each value across W and ranks the merged rows', async () => {
    const { batch, speed } = readers();
    const from = DAY0 + D;
    const r = await mergeBreakdown({ site: 'a', from, to: NOW, dimension: 'page', metric: 'pageviews', limit: 5 }, { batch, speed, choice: 'merged', now: NOW });
    const expected = truthBreakdown(events, { site: 'a', from, to: NOW, dimension: 'page', metric: 'pageviews' }).slice(0, 5);
    expect(r.rows).toEqual(expected);
    expect(r.sources).toEqual(['batch', 'speed']);
    expect(r.exact).toBe(false);
  });

  it('is exact when batch alone answers, and pages with an offset', async () => {
    const { batch, speed } = readers();
    const all = await mergeBreakdown({ site: 'a', from: DAY0, to: W, dimension: 'country', metric: 'visitors', limit: 6 }, { batch, speed, choice: 'merged', now: NOW });
    const page2 = await mergeBreakdown({ site: 'a', from: DAY0, to: W, dimension: 'country', metric: 'visitors', limit: 3 }, { batch, speed, choice: 'merged', now: NOW }, { offset: 3 });
    expect(all.exact).toBe(true);
    expect(page2.rows).toEqual(all.rows.slice(3, 6));
  });
});
