/** Public surface of orchestration/: the job ledger (read by serving), the scheduler and its ports. */
export { JobLedger, ledgerPath, LEDGER_FILE, type ListFilter } from './jobs.ledger.ts';
export { SchedulerService, validateSchedule, type ScheduledJob, type SchedulerDeps } from './scheduler.service.ts';
export { SchedulerMetrics } from './scheduler.metrics.ts';
export { JobRunner, flattenRuns, type RunResult, type RetryPolicy } from './job.runner.ts';
export { RedisJobLock, MemoryJobLock, type JobLock, type HeldLock } from './job.lock.ts';
export { compareSpeedWithBatch, relativeError, DRIFT_METRICS, type DriftDeps } from './drift.job.ts';
export { batchJob, newlyCovered } from './nightly-batch.job.ts';
export { warehouseJob } from './warehouse.job.ts';
export { viewsJob } from './views.job.ts';
export { compactionJob, retentionJob } from './maintenance.jobs.ts';
export { schedulerOptions, type SchedulerOptions } from './options.ts';
export { formatRun, formatRunTable } from './jobs.format.ts';
export * from './types.ts';
export { groupLag } from './consumer.lag.ts';
