/** The scheduler's Prometheus metrics: per job last success, duration, outcomes; drift per metric. */
import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../core/metrics.ts';
import type { DriftReport, JobRun } from './types.ts';

export class SchedulerMetrics {
  readonly lastSuccess: Gauge<'job'>;
  readonly lastDuration: Gauge<'job'>;
  readonly runs: Counter<'job' | 'status'>;
  readonly running: Gauge<'job'>;
  readonly retries: Counter<'job'>;
  readonly skipped: Counter<'job' | 'reason'>;
  readonly driftMean: Gauge<'metric'>;
  readonly driftMax: Gauge<'metric'>;
  readonly driftBuckets: Gauge<'metric'>;

  constructor(readonly metrics: Metrics) {
    this.lastSuccess = metrics.gauge('job_last_success_timestamp_seconds', 'End time of the last successful run, per job', ['job']);
    this.lastDuration = metrics.gauge('job_last_duration_seconds', 'Duration of the last finished run (any outcome), per job', ['job']);
    this.runs = metrics.counter('job_runs_total', 'Finished runs by job and outcome', ['job', 'status']);
    this.running = metrics.gauge('job_running', '1 while this scheduler runs the job', ['job']);
    this.retries = metrics.counter('job_retries_total', 'Attempts that failed and were retried', ['job']);
    this.skipped = metrics.counter('job_skipped_total', 'Runs not started: another scheduler holds the lock or already ran the slot', ['job', 'reason']);
    this.driftMean = metrics.gauge('drift_mean_relative_error', 'Mean relative error of speed against batch over the buckets the last batch run newly covered', ['metric']);
    this.driftMax = metrics.gauge('drift_max_relative_error', 'Largest relative error of speed against batch in one bucket of the last comparison', ['metric']);
    this.driftBuckets = metrics.gauge('drift_buckets_compared', 'Buckets compared in the last speed/batch comparison', ['metric']);
  }

  recordSuccess(job: string, endedAt: number, durationS: number): void {
    this.lastSuccess.set({ job }, endedAt / 1000);
    this.lastDuration.set({ job }, durationS);
    this.runs.inc({ job, status: 'succeeded' });
  }

  recordFailure(job: string, durationS: number): void {
    this.lastDuration.set({ job }, durationS);
    this.runs.inc({ job, status: 'failed' });
  }

  recordDrift(report: DriftReport): void {
    for (const m of report.metrics) {
      this.driftMean.set({ metric: m.metric }, m.meanRelativeError);
      this.driftMax.set({ metric: m.metric }, m.maxRelativeError);
      this.driftBuckets.set({ metric: m.metric }, m.buckets);
    }
  }

  /** After a restart the gauges start from the ledger, not from zero. */
  seedFromLedger(runs: readonly JobRun[]): void {
    for (const r of runs) {
      if (r.endedAt === undefined) continue;
      if (r.status === 'succeeded') this.lastSuccess.set({ job: r.job }, r.endedAt / 1000);
      this.lastDuration.set({ job: r.job }, (r.endedAt - r.startedAt) / 1000);
      if (r.job === 'drift' && r.status === 'succeeded' && r.details.drift) this.recordDrift(r.details.drift as DriftReport);
    }
  }
}
