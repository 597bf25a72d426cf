/** Assembles a SchedulerService from options and ports: which jobs exist depends on what is wired. */
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { batchJob } from '../orchestration/index.ts';
import { RedisJobLock } from '../orchestration/index.ts';
import { JobLedger } from '../orchestration/index.ts';
import { compactionJob, retentionJob } from '../orchestration/index.ts';
import type { SchedulerOptions } from '../orchestration/index.ts';
import { SchedulerMetrics } from '../orchestration/index.ts';
import { SchedulerService, type ScheduledJob } from '../orchestration/index.ts';
import type { JobPorts } from './job-ports.ts';

export interface BuiltScheduler {
  scheduler: SchedulerService;
  ledger: JobLedger;
  schedulerMetrics: SchedulerMetrics;
  /** Jobs left out because their part is not wired, with the reason. */
  missing: string[];
}

export function createScheduler(options: SchedulerOptions, ports: Omit<JobPorts, 'close'>, logger: Logger, metrics: Metrics, extra: { catchUp?: boolean } = {}): BuiltScheduler {
  const ledger = JobLedger.inDataDir(options.dataDir);
  const schedulerMetrics = new SchedulerMetrics(metrics);
  const jobs: ScheduledJob[] = [];
  const missing: string[] = [];
  if (ports.batch && options.crons.batch) {
    const deps = { batch: ports.batch, speed: ports.speed, schedulerMetrics, ...(ports.drift ? { drift: ports.drift } : {}), ...(ports.warehouse ? { warehouse: ports.warehouse } : {}), ...(ports.views ? { views: ports.views } : {}) };
    // First the scheduler's own zone (complete UTC days when it is UTC; `jobs run batch` runs this
    // one), then the same cron in each other zone of the sites, for their local midnights.
    jobs.push({ cron: options.crons.batch, job: batchJob({ ...deps, zone: options.timezone }) });
    for (const zone of options.siteZones ?? []) if (zone !== options.timezone) jobs.push({ cron: options.crons.batch, timezone: zone, job: batchJob({ ...deps, zone }) });
  } else missing.push('batch (batch/ exports no batch runner yet)');
  if (ports.compaction && options.crons.compaction) jobs.push({ cron: options.crons.compaction, job: compactionJob(ports.compaction) });
  else missing.push('compaction (batch/ exports no lake compactor yet)');
  if (options.crons.retention) jobs.push({ cron: options.crons.retention, job: retentionJob(ports.retention) });
  const lock = new RedisJobLock(ports.redis, { prefix: options.lockPrefix, ttlMs: options.lockTtlMs, owner: options.owner });
  const scheduler = new SchedulerService({ ledger, lock, metrics: schedulerMetrics, logger, jobs, timezone: options.timezone, retry: options.retry, ...(extra.catchUp === undefined ? {} : { catchUp: extra.catchUp }) });
  return { scheduler, ledger, schedulerMetrics, missing };
}
