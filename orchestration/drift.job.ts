/**
 * After a batch publish: how far was the speed layer from the exact numbers, bucket by bucket,
 * over the span the batch run newly covered? Both sides are read through the serving contract
 * (core/views.ts ViewReader), so the comparison sees the numbers users see, in the contract's
 * units (revenue in micros on both sides; totals in the report are micros too).
 *
 * Relative error of a bucket: |speed − batch| / batch; when batch is 0 it is 0 if speed is 0
 * too and 1 otherwise. Only buckets both stores answer for are compared.
 */
import { TwinlaneError } from '../core/errors.ts';
import { alignDown, type Metric, type SeriesPoint, type ViewReader } from '../core/views.ts';
import type { DriftReport, JobDefinition, JobOutput, MetricDrift } from './types.ts';
import type { SchedulerMetrics } from './scheduler.metrics.ts';

/** Counts are exact on both sides (drift should be 0); visitors and sessions carry the HLL error. */
export const DRIFT_METRICS: Metric[] = ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue'];

/** One query covers at most this span, so a first run over weeks stays in small pieces. */
const CHUNK_MS = 6 * 3_600_000;

export interface DriftDeps {
  speed: ViewReader;
  batch: ViewReader;
  /** The sites to compare, or a function that lists them at run time. */
  sites: readonly string[] | (() => Promise<readonly string[]>);
  metrics?: Metric[];
  /**
   * Largest mean relative error of a metric that passes (DRIFT_THRESHOLD): above it the check
   * fails, so the speed keys of those days are not retired (speed stays the second copy until
   * someone looks). Absent: the check reports and passes.
   */
  threshold?: number;
}

/** Speed and batch disagree beyond the threshold: the speed keys stay, the run says which metrics. */
export class DriftTooHighError extends TwinlaneError {
  constructor(readonly over: MetricDrift[], threshold: number) {
    super('DRIFT_TOO_HIGH', `speed against batch beyond the threshold ${threshold}: ${over.map((m) => `${m.metric} mean relative error ${m.meanRelativeError.toFixed(4)} over ${m.buckets} buckets (speed ${m.speedTotal}, batch ${m.batchTotal})`).join('; ')}; the speed keys of these days are kept`, { retriable: false });
  }
}

export function relativeError(speed: number, batch: number): number {
  if (batch === 0) return speed === 0 ? 0 : 1;
  return Math.abs(speed - batch) / Math.abs(batch);
}

class Accumulator {
  buckets = 0;
  sum = 0;
  max = 0;
  speedTotal = 0;
  batchTotal = 0;
  add(s: number, b: number): void {
    const e = relativeError(s, b);
    this.buckets++;
    this.sum += e;
    if (e > this.max) this.max = e;
    this.speedTotal += s;
    this.batchTotal += b;
  }
}

/** Compares minute buckets of [from, to) for every site. */
export async function compareSpeedWithBatch(deps: DriftDeps, from: number, to: number, signal?: AbortSignal): Promise<DriftReport> {
  const metrics = deps.metrics ?? DRIFT_METRICS;
  const acc = new Map<Metric, Accumulator>(metrics.map((m) => [m, new Accumulator()]));
  const sites = typeof deps.sites === 'function' ? await deps.sites() : deps.sites;
  const start = alignDown(from, 'minute');
  for (const site of sites) {
    for (let a = start; a < to; a += CHUNK_MS) {
      signal?.throwIfAborted();
      const b = Math.min(to, a + CHUNK_MS);
      const q = { site, from: a, to: b, grain: 'minute' as const, metrics };
      const [speedPoints, batchPoints] = await Promise.all([deps.speed.series(q), deps.batch.series(q)]);
      const batchByStart = new Map<number, SeriesPoint>(batchPoints.map((p) => [p.start, p]));
      for (const sp of speedPoints) {
        const bp = batchByStart.get(sp.start);
        if (!bp) continue;
        for (const m of metrics) {
          const s = sp.values[m];
          const v = bp.values[m];
          if (s === undefined || v === undefined) continue;
          acc.get(m)!.add(s, v);
        }
      }
    }
  }
  const out: MetricDrift[] = metrics.map((metric) => {
    const a = acc.get(metric)!;
    return { metric, buckets: a.buckets, meanRelativeError: a.buckets ? a.sum / a.buckets : 0, maxRelativeError: a.max, speedTotal: a.speedTotal, batchTotal: a.batchTotal };
  });
  return { from: start, to, sites: sites.length, metrics: out };
}

/** The `drift` job for one batch publish; its follow-up (speed retire) comes from the caller. */
export function driftJob(deps: DriftDeps & { schedulerMetrics: SchedulerMetrics }, from: number, to: number, next: JobDefinition[] = []): JobDefinition {
  return {
    name: 'drift',
    async run(ctx): Promise<JobOutput> {
      const report = await compareSpeedWithBatch(deps, from, to, ctx.signal);
      deps.schedulerMetrics.recordDrift(report);
      const over = deps.threshold === undefined ? [] : report.metrics.filter((m) => m.buckets > 0 && m.meanRelativeError > deps.threshold!);
      if (over.length > 0) throw new DriftTooHighError(over, deps.threshold!);
      const buckets = Math.max(0, ...report.metrics.map((m) => m.buckets));
      return { rows: buckets, days: daysOf(from, to), details: { drift: report }, next };
    },
  };
}

/** YYYY-MM-DD of every UTC day that [from, to) touches. */
export function daysOf(from: number, to: number): string[] {
  const days: string[] = [];
  for (let d = alignDown(from, 'day'); d < to; d += 86_400_000) days.push(new Date(d).toISOString().slice(0, 10));
  return days;
}
