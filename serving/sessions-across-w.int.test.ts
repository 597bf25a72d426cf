/**
 * Sessions across W (issue 14, items 4-5; contracts 7 and 9): the real stores hold the same events
 * — the batch views the first day (W at its end, midnight), the speed store (Redis) both days —
 * and sessions merged across W are the server's visits of the whole range, a visit with events on
 * both sides of W counted once. Without the union of visit ids the visitor active across midnight
 * of core/views.contract.ts's `visits` site counted twice (5 sessions instead of 4). Bounce rate and
 * visit duration over a range spanning W take such a visit whole (its page views on both sides).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractData, VISITS_SITE } from '../core/views.contract.ts';
import { runCleanups } from '../testing/helpers.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { truthSeries, truthTotals } from '../testing/truth.ts';
import { acrossWWatermark, storesAcrossW } from './testing/across-w.fixture.ts';
import { mergeSeries, mergeTotals, type MergeContext } from './view.merger.ts';

const data = contractData();
const { events, from, to } = data;
const W = acrossWWatermark(data);

let ctx: MergeContext;

beforeAll(async () => {
  ctx = await storesAcrossW('sessions-across-w', data);
}, 120_000);

afterAll(runCleanups);

describe("the server's visits merged across W", () => {
  it('counts a visit across W once: across midnight, after 31 idle minutes, two tabs', async () => {
    const merged = await mergeTotals({ site: VISITS_SITE, from, to, metrics: ['sessions'] }, ctx);
    expect(merged.sources).toEqual(['batch', 'speed']);
    expect(truthTotals(events, { site: VISITS_SITE, from, to }).sessions).toBe(4);
    expect(merged.values.sessions).toBe(4);
  });

  it('totals of generated traffic across W equal the truth within the sketch bound, unaligned ranges too', async () => {
    for (const site of data.sites)
      for (const [a, z] of [[from, to], [W - 3 * 3_600_000 - 17 * 60_000, W + 5 * 3_600_000]] as [number, number][]) {
        const merged = await mergeTotals({ site, from: a, to: z, metrics: ['sessions'] }, ctx);
        const want = truthTotals(events, { site, from: a, to: z }).sessions;
        expect(withinSketchBound(merged.values.sessions!, want), `${site} [${new Date(a).toISOString()}, ${new Date(z).toISOString()}): ${merged.values.sessions} vs ${want}`).toBe(true);
      }
  });

  it('bounce rate and visit duration over a range spanning W take each visit whole, as the truth', async () => {
    for (const site of data.sites)
      for (const [a, z] of [[from, to], [W - 3 * 3_600_000 - 17 * 60_000, W + 5 * 3_600_000]] as [number, number][]) {
        const merged = await mergeTotals({ site, from: a, to: z, metrics: ['bounce_rate', 'visit_duration'] }, ctx);
        const want = truthTotals(events, { site, from: a, to: z });
        const where = `${site} [${new Date(a).toISOString()}, ${new Date(z).toISOString()})`;
        expect(merged.values.bounce_rate!, `${where} bounce_rate`).toBeCloseTo(want.bounce_rate, 9);
        expect(merged.values.visit_duration!, `${where} visit_duration`).toBeCloseTo(want.visit_duration, 9);
      }
  });

  it('series: batch buckets exact, speed buckets within the sketch bound (bounce rate and duration exact), each counting the visits with an event in it', async () => {
    for (const grain of ['hour', 'day'] as const) {
      const merged = await mergeSeries({ site: VISITS_SITE, grain, from, to, metrics: ['sessions', 'bounce_rate', 'visit_duration'] }, ctx);
      const truth = truthSeries(events, { site: VISITS_SITE, grain, from, to });
      for (const p of merged.points) {
        const want = truth.get(p.start)!;
        const where = `${grain} ${new Date(p.start).toISOString()}`;
        expect(p.source, where).toBe(p.start < W ? 'batch' : 'speed');
        if (p.start < W) {
          expect(p.exact, where).toBe(true);
          expect(p.values.sessions, where).toBe(want.sessions);
          expect(p.values.bounce_rate!, where).toBeCloseTo(want.bounce_rate, 9);
          expect(p.values.visit_duration!, where).toBeCloseTo(want.visit_duration, 9);
        } else {
          expect(p.exact, where).toBe(false);
          expect(withinSketchBound(p.values.sessions!, want.sessions), where).toBe(true);
          // Not sketches: the visits' first and last events and page views, exact for in-order events.
          expect(p.values.bounce_rate!, where).toBeCloseTo(want.bounce_rate, 9);
          expect(p.values.visit_duration!, where).toBeCloseTo(want.visit_duration, 9);
        }
      }
    }
  });
});
