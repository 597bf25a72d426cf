import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import type { SeriesPoint, SeriesQuery, ViewReader } from '../core/views.ts';
import { batchJob, newlyCovered } from './nightly-batch.job.ts';
import { compareSpeedWithBatch, daysOf, relativeError } from './drift.job.ts';
import { JobRunner } from './job.runner.ts';
import { MemoryJobLock } from './job.lock.ts';
import { JobLedger } from './jobs.ledger.ts';
import { SchedulerMetrics } from './scheduler.metrics.ts';
import type { BatchRunResult, DriftReport } from './types.ts';

const DAY = 86_400_000;
const D1 = Date.UTC(2026, 2, 1);

/** A store answering per-minute series from a function of (site, minute start). */
function fakeReader(source: 'speed' | 'batch', values: (site: string, start: number) => Record<string, number> | undefined): ViewReader {
  return {
    source,
    exact: source === 'batch',
    coverage: async () => null,
    totals: async () => ({}),
    breakdown: async () => [],
    series: async (q: SeriesQuery): Promise<SeriesPoint[]> => {
      const out: SeriesPoint[] = [];
      for (let t = q.from; t < q.to; t += 60_000) {
        const v = values(q.site, t);
        if (v) out.push({ start: t, values: Object.fromEntries(q.metrics.filter((m) => m in v).map((m) => [m, v[m]!])) });
      }
      return out;
    },
  };
}

const dirs: string[] = [];

/** A job runner over a ledger in a temporary folder, one attempt per run. */
function ledgerRunner(): { ledger: JobLedger; sm: SchedulerMetrics; runner: JobRunner } {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-batchjob-'));
  dirs.push(dir);
  const ledger = JobLedger.inDataDir(dir);
  const sm = new SchedulerMetrics(new Metrics());
  const runner = new JobRunner({ ledger, lock: new MemoryJobLock(), metrics: sm, logger: silentLogger(), retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 } });
  return { ledger, sm, runner };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('drift comparison', () => {
  it('defines relative error against batch, with 0/0 as exact', () => {
    expect(relativeError(101, 100)).toBeCloseTo(0.01);
    expect(relativeError(0, 0)).toBe(0);
    expect(relativeError(3, 0)).toBe(1);
  });

  it('computes mean and max per metric over the buckets both stores hold', async () => {
    const batch = fakeReader('batch', () => ({ pageviews: 10, visitors: 100 }));
    // Speed is exact for pageviews, +2% on visitors in even minutes, -1% in odd ones; it lacks the first hour.
    const speed = fakeReader('speed', (_s, t) => (t < D1 + 3_600_000 ? undefined : { pageviews: 10, visitors: (t / 60_000) % 2 === 0 ? 102 : 99 }));
    const r = await compareSpeedWithBatch({ speed, batch, sites: ['a', 'b'], metrics: ['pageviews', 'visitors'] }, D1, D1 + 3 * 3_600_000);
    const buckets = 2 * 2 * 60; // two sites, two hours held by speed
    expect(r.sites).toBe(2);
    expect(r.metrics[0]).toEqual({ metric: 'pageviews', buckets, meanRelativeError: 0, maxRelativeError: 0, speedTotal: 10 * buckets, batchTotal: 10 * buckets });
    expect(r.metrics[1]!.buckets).toBe(buckets);
    expect(r.metrics[1]!.meanRelativeError).toBeCloseTo(0.015, 6);
    expect(r.metrics[1]!.maxRelativeError).toBeCloseTo(0.02, 6);
  });

  it('names the days a span touches', () => {
    expect(daysOf(D1, D1 + DAY + 1)).toEqual(['2026-03-01', '2026-03-02']);
  });
});

describe('batch job', () => {
  it('covers from the previous watermark, or the first recomputed day on the first run', () => {
    expect(newlyCovered({ days: ['2026-03-01', '2026-03-02'], previousWatermark: null, watermark: D1 + 2 * DAY })).toEqual({ from: D1, to: D1 + 2 * DAY });
    expect(newlyCovered({ days: ['2026-02-20', '2026-03-02'], previousWatermark: D1 + DAY, watermark: D1 + 2 * DAY })).toEqual({ from: D1 + DAY, to: D1 + 2 * DAY });
    // A re-run of a dirty old day does not move W: nothing newly covered.
    expect(newlyCovered({ days: ['2026-02-20'], previousWatermark: D1 + DAY, watermark: D1 + DAY })).toBeUndefined();
  });

  it('after a publish compares speed with batch, records the drift, then retires speed keys before W', async () => {
    const { ledger, sm, runner } = ledgerRunner();
    const retired: number[] = [];
    let result: BatchRunResult = { published: true, days: ['2026-03-01'], rows: 1234, previousWatermark: null, watermark: D1 + DAY, version: 'v1' };
    const def = batchJob({
      batch: { run: async () => result },
      drift: { speed: fakeReader('speed', () => ({ visitors: 98 })), batch: fakeReader('batch', () => ({ visitors: 100 })), sites: async () => ['a'], metrics: ['visitors'] },
      speed: { retireBefore: async (t) => (retired.push(t), { minutesDeleted: 5 }) },
      schedulerMetrics: sm,
    });
    const r = await runner.run(def, 'manual', new AbortController().signal);
    expect(r.status === 'succeeded' && r.followUps.map((f) => [f.job, f.status])).toEqual([['drift', 'succeeded']]);
    expect(retired).toEqual([D1 + DAY]);
    const [batchRun] = await ledger.list({ job: 'batch' });
    expect(batchRun).toMatchObject({ status: 'succeeded', rows: 1234, days: ['2026-03-01'], details: { published: true, watermark: D1 + DAY, version: 'v1' } });
    const [driftRun] = await ledger.list({ job: 'drift' });
    const report = driftRun!.details.drift as DriftReport;
    expect(report.metrics[0]).toMatchObject({ metric: 'visitors', buckets: 1440 });
    expect(report.metrics[0]!.meanRelativeError).toBeCloseTo(0.02);
    expect((await ledger.list({ job: 'speed-retire' }))[0]).toMatchObject({ status: 'succeeded', rows: 5, details: { before: D1 + DAY } });
    const text = await sm.metrics.text();
    expect(Number(/twinlane_drift_mean_relative_error\{metric="visitors"\} ([\d.e-]+)/.exec(text)?.[1])).toBeCloseTo(0.02);
    expect(text).toMatch(/twinlane_drift_buckets_compared\{metric="visitors"\} 1440/);

    // Nothing dirty: no publish, no follow-ups.
    result = { published: false, days: [], rows: 0, previousWatermark: D1 + DAY, watermark: D1 + DAY };
    const quiet = await runner.run(def, 'manual', new AbortController().signal);
    expect(quiet.status === 'succeeded' && quiet.followUps).toEqual([]);
    expect(retired).toHaveLength(1);
    await ledger.close();
  });

  it('keeps the speed keys when the drift is beyond the threshold: the drift run fails naming the metric, nothing is retired', async () => {
    const { ledger, sm, runner } = ledgerRunner();
    const retired: number[] = [];
    const result: BatchRunResult = { published: true, days: ['2026-03-01'], rows: 1234, previousWatermark: null, watermark: D1 + DAY, version: 'v1' };
    const job = (speedPageviews: number) =>
      batchJob({
        batch: { run: async () => result },
        drift: { speed: fakeReader('speed', () => ({ pageviews: speedPageviews })), batch: fakeReader('batch', () => ({ pageviews: 100 })), sites: async () => ['a'], metrics: ['pageviews'], threshold: 0.05 },
        speed: { retireBefore: async (t) => (retired.push(t), { minutesDeleted: 5 }) },
        schedulerMetrics: sm,
      });
    const far = await runner.run(job(80), 'manual', new AbortController().signal);
    expect(far.status === 'succeeded' && far.followUps.map((f) => [f.job, f.status])).toEqual([['drift', 'failed']]);
    expect(retired).toEqual([]);
    const [driftRun] = await ledger.list({ job: 'drift' });
    expect(driftRun).toMatchObject({ status: 'failed', errorCode: 'DRIFT_TOO_HIGH', error: expect.stringContaining('pageviews mean relative error 0.2000') });
    // Within the threshold: retired.
    const near = await runner.run(job(97), 'manual', new AbortController().signal);
    expect(near.status === 'succeeded' && near.followUps.map((f) => [f.job, f.status])).toEqual([['drift', 'succeeded']]);
    expect(retired).toEqual([D1 + DAY]);
    await ledger.close();
  });

  it("run for a site zone, computes up to that zone's local midnight of its slot", async () => {
    const sm = new SchedulerMetrics(new Metrics());
    const asked: (number | undefined)[] = [];
    const batch = { run: async (o: { until?: number }) => (asked.push(o.until), { published: false, days: [], rows: 0, previousWatermark: null, watermark: null }) };
    const slot = Date.parse('2026-03-15T06:00:00Z'); // 02:00 in New York (EDT)
    const signal = new AbortController().signal;
    await batchJob({ batch, schedulerMetrics: sm, zone: 'America/New_York' }).run({ trigger: 'schedule', scheduledFor: slot, attempt: 1, signal });
    await batchJob({ batch, schedulerMetrics: sm, zone: 'Asia/Kolkata' }).run({ trigger: 'schedule', scheduledFor: Date.parse('2026-03-14T20:30:00Z'), attempt: 1, signal });
    await batchJob({ batch, schedulerMetrics: sm }).run({ trigger: 'manual', attempt: 1, signal });
    expect(asked.map((t) => (t === undefined ? undefined : new Date(t).toISOString()))).toEqual(['2026-03-15T04:00:00.000Z', '2026-03-14T18:30:00.000Z', undefined]);
  });
});
