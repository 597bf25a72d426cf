/**
 * The end-to-end assertion: a served series equals the truth (testing/truth.ts). It walks the
 * truth's buckets, not the served rows, so an empty or partial answer fails instead of passing
 * vacuously, and a missing bucket or a null metric is a failure, never read as 0.
 */
import { expect } from 'vitest';
import type { Metric } from '../core/views.ts';
import type { TruthSeries } from './truth.ts';

/** One bucket of a series as the HTTP API served it (revenue in currency units). */
export interface SeriesRow {
  start: number;
  source: string | null;
  values: Record<string, number | null>;
}

/**
 * Speed uniques are HyperLogLog (Redis: 0.81% standard error); allow about 3 sigma, and at
 * least 3 for the small counts of a minute or an hour: there the error is whole visitors lost to
 * register collisions, not a share, and it is fixed by the set of ids (a seeded test that hits a
 * bad set hits it on every run of that hour). Measured on Redis 7, PFADD of n random ids, 20,000
 * sets each: off by 3 or more at n = 58 in 0.02%, at n = 100 in 0.3%; by 4 or more at n = 100 in
 * 0.015%, at n = 150 in 0.07%; none at n = 30 off by more than 2. The end-to-end seed (82) hit
 * 58 → 55 and 97 → 94 (two collisions) whenever a run fell between 01:56 and 02:26 UTC; with a
 * floor of 3 no hour of a run at any minute of the day misses. At n = 1,000 the error stayed
 * within 25 (2.5%).
 */
export const HLL_TOLERANCE = 0.025;
export const HLL_MIN_SLACK = 3;

/** Whether an approximate unique count is within the sketch bound of the exact one. */
export function withinSketchBound(got: number, want: number): boolean {
  return Math.abs(got - want) <= Math.max(HLL_MIN_SLACK, HLL_TOLERANCE * want);
}

/** Micros per currency unit, as the API presents revenue (spelled out, not taken from the code). */
const MICROS_PER_UNIT = 1_000_000;

/**
 * Every bucket of `truth` has a served row with every metric a number equal to the truth: exactly,
 * or within the sketch bound for the `approx` metrics. `where` names the series in messages.
 */
export function expectBucketsEqualTruth(rows: readonly SeriesRow[], truth: TruthSeries, where: string, metrics: readonly Metric[], approx: readonly Metric[] = []): void {
  expect(truth.size, `${where}: a truth without buckets proves nothing`).toBeGreaterThan(0);
  const served = new Map(rows.map((r) => [r.start, r]));
  for (const [start, want] of truth) {
    const at = `${where} ${new Date(start).toISOString()}`;
    const row = served.get(start);
    if (!row) expect.unreachable(`${at}: no bucket served (${rows.length} rows served)`);
    for (const m of metrics) {
      const got = row.values[m];
      if (got === null || got === undefined) expect.unreachable(`${at} ${m}: served ${got} (source ${row.source}), truth ${want[m]}`);
      const label = `${at} ${m} (source ${row.source})`;
      if (approx.includes(m)) expect(withinSketchBound(got, want[m]), `${label}: ${got} vs ${want[m]}`).toBe(true);
      else if (m === 'revenue') expect(got, label).toBe(want.revenue / MICROS_PER_UNIT);
      else expect(got, label).toBe(want[m]);
    }
  }
}
