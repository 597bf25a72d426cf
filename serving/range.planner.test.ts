import { describe, expect, it } from 'vitest';
import type { BreakdownQuery, Coverage, SeriesQuery, TotalsQuery, ViewReader } from '../core/views.ts';
import { planRange } from './range.planner.ts';
import type { BatchViews } from './types.ts';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2026, 11, 1);

/** A store that records its coverage reads and the queries it is asked. */
function recordingReader(source: 'batch' | 'speed', cov: Coverage): ViewReader & { coverageReads: number; queries: (SeriesQuery | TotalsQuery | BreakdownQuery)[] } {
  const r = {
    source,
    exact: source === 'batch',
    coverageReads: 0,
    queries: [] as (SeriesQuery | TotalsQuery | BreakdownQuery)[],
    coverage: async () => {
      r.coverageReads++;
      return cov;
    },
    series: async (q: SeriesQuery) => (r.queries.push(q), []),
    totals: async (q: TotalsQuery) => (r.queries.push(q), {}),
    breakdown: async (q: BreakdownQuery) => (r.queries.push(q), []),
  };
  return r;
}

describe('range planner', () => {
  it("gives speed's part the coverage the plan read, so the store reads it once a request", async () => {
    const speedCov = { from: T0 + 2 * D, to: T0 + 3 * D + 5 * H };
    const speed = recordingReader('speed', speedCov);
    const batch: BatchViews = { ...recordingReader('batch', { from: T0, to: T0 + 2 * D }), version: 'v1' };
    const plan = await planRange({ site: 's', from: T0, to: T0 + 4 * D, choice: 'merged', now: T0 + 3 * D + 5 * H, batch, speed });

    expect(plan.watermark).toBe(T0 + 2 * D);
    expect(plan.parts.map((p) => [p.source, p.from, p.to])).toEqual([
      ['batch', T0, T0 + 2 * D],
      ['speed', T0 + 2 * D, speedCov.to],
    ]);
    const part = plan.parts[1]!;
    expect(part.reader.source).toBe('speed');
    expect(part.reader.exact).toBe(false);
    await part.reader.totals({ site: 's', from: part.from, to: part.to, metrics: ['pageviews'] });
    await part.reader.series({ site: 's', from: part.from, to: part.to, metrics: ['pageviews'], grain: 'hour' });
    await part.reader.breakdown({ site: 's', from: part.from, to: part.to, dimension: 'page', metric: 'pageviews', limit: 5 });
    expect(await part.reader.coverage('s')).toEqual(speedCov);
    expect(speed.coverageReads).toBe(1);
    expect(speed.queries).toHaveLength(3);
    for (const q of speed.queries) expect(q.coverage).toEqual(speedCov);
    // Batch's part is its own reader: its queries (and its cache keys) carry no coverage.
    expect(plan.parts[0]!.reader).toBe(batch);
  });

  it('leaves speed out, and reports the gap missing, when speed covers nothing', async () => {
    const speed = { ...recordingReader('speed', { from: 0, to: 1 }), coverage: async () => null };
    const plan = await planRange({ site: 's', from: T0, to: T0 + D, choice: 'merged', now: T0 + D, batch: null, speed });
    expect(plan.parts).toEqual([]);
    expect(plan.missing).toEqual([[T0, T0 + D]]);
  });
});
