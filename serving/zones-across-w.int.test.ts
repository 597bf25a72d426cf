/**
 * Site time zones across W in the real stores (issue 14; contracts 7 and 9): the batch views hold
 * UTC days up to the day after New York's last DST change, the speed store (Redis) every event.
 * For New York, Kolkata and Lord Howe, W is the zone's last local midnight within batch's days
 * (found here with Intl alone), and every hour, day, week and month bucket — batch's exact, speed's
 * and those holding W (merged as totals are) within the sketch bound for uniques — equals the
 * truth cut in that zone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_ZONES, zoneContractData } from '../core/views.contract.ts';
import { METRICS, type Grain, type Metric } from '../core/views.ts';
import { runCleanups } from '../testing/helpers.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { truthBucketStarts, truthSeries, truthTotals } from '../testing/truth.ts';
import { storesAcrossW } from './testing/across-w.fixture.ts';
import { mergeSeries, mergeTotals, type MergeContext } from './view.merger.ts';

const DAY = 86_400_000;
const data = zoneContractData();
const { events, from, to } = data;
const site = data.sites[0]!;
/** The UTC midnight after New York's DST change day. */
const W_UTC = data.dstDays![0]! + DAY;
const APPROX: ReadonlySet<Metric> = new Set(['visitors', 'sessions']);

let ctx: MergeContext;

beforeAll(async () => {
  ctx = await storesAcrossW('zones-across-w', data, W_UTC);
}, 180_000);

afterAll(runCleanups);

function expectPoint(values: Partial<Record<Metric, number | null>>, want: Record<Metric, number>, where: string): void {
  for (const m of METRICS) {
    const got = values[m];
    if (got === null || got === undefined) expect.unreachable(`${where} ${m}: missing, truth ${want[m]}`);
    if (APPROX.has(m)) expect(withinSketchBound(got, want[m]), `${where} ${m}: ${got} vs ${want[m]}`).toBe(true);
    else if (m === 'bounce_rate' || m === 'visit_duration') expect(got, `${where} ${m}`).toBeCloseTo(want[m], 9);
    else expect(got, `${where} ${m}`).toBe(want[m]);
  }
}

describe('site time zones merged across W', () => {
  it("puts W at each zone's last local midnight within batch's UTC days", async () => {
    for (const zone of CONTRACT_ZONES) {
      const merged = await mergeTotals({ site, from, to, metrics: ['pageviews'], zone }, ctx);
      expect(merged.meta.watermark, zone).toBe(truthBucketStarts(W_UTC, W_UTC + 1, 'day', zone)[0]);
    }
  });

  it('answers hour, day, week and month buckets in each zone like the truth, on both sides of W and across it', async () => {
    for (const zone of CONTRACT_ZONES)
      for (const grain of ['hour', 'day', 'week', 'month'] as Grain[]) {
        // Batch holds whole local days from the zone's first midnight within its UTC days: from the
        // first bucket starting there (a month's 1st lies in the window in autumn, not in spring);
        // hours around W.
        const localFrom = truthBucketStarts(from, from + DAY + 1, 'day', zone).find((t) => t >= from)!;
        const first = truthBucketStarts(localFrom, to, grain, zone).find((t) => t >= localFrom);
        // Series answers whole buckets: the hours start on one of the zone's (Kolkata's at :30).
        const hourAt = (t: number) => truthBucketStarts(t, t + 1, 'hour', zone)[0]!;
        const [a, z] = grain === 'hour' ? [hourAt(W_UTC - 2 * DAY), hourAt(W_UTC + DAY)] : [first, to];
        if (a === undefined || a >= W_UTC) continue;
        const merged = await mergeSeries({ site, grain, from: a, to: z, metrics: [...METRICS], zone }, ctx);
        const truth = truthSeries(events, { site, grain, from: a, to: z, zone });
        const where = `${zone} ${grain}`;
        expect(merged.points.map((p) => p.start), `${where} buckets`).toEqual([...truth.keys()]);
        const W = merged.meta.watermark!;
        for (const p of merged.points) {
          const at = `${where} ${new Date(p.start).toISOString()}`;
          expect(p.status, at).toBe('ok');
          expectPoint(p.values, truth.get(p.start)!, at);
        }
        // Sources: batch before W, speed from W, both for a bucket holding W (weeks and months).
        expect(merged.points.some((p) => p.source !== 'speed') && merged.points.some((p) => p.source !== 'batch'), `${where} both sides`).toBe(true);
        const starts = [...truth.keys()];
        starts.forEach((start, i) => {
          const end = starts[i + 1] ?? z;
          if (start < W && end > W) expect(merged.points[i]!.source, `${where} ${new Date(start).toISOString()} holds W`).toBe('batch+speed');
        });
        for (const p of merged.points) if (p.start >= W) expect(p.source, `${where} ${new Date(p.start).toISOString()}`).toBe('speed');
      }
  });

  it('totals over local days across W equal the truth', async () => {
    for (const zone of CONTRACT_ZONES) {
      const [a, z] = [truthBucketStarts(W_UTC - 3 * DAY, W_UTC - 3 * DAY + 1, 'day', zone)[0]!, truthBucketStarts(W_UTC + DAY, W_UTC + DAY + 1, 'day', zone)[0]!];
      const merged = await mergeTotals({ site, from: a, to: z, metrics: [...METRICS], zone }, ctx);
      expect(merged.sources, zone).toEqual(['batch', 'speed']);
      expectPoint(merged.values, truthTotals(events, { site, from: a, to: z }), `${zone} totals`);
    }
  });
});
