/** The scheduler's settings, taken from the validated configuration (core/config.ts). */
import { hostname } from 'node:os';
import type { ConfigValues } from '../core/config.ts';
import type { RetryPolicy } from './job.runner.ts';
import type { JobName } from './types.ts';

export interface SchedulerOptions {
  timezone: string;
  crons: Partial<Record<JobName, string>>;
  lockTtlMs: number;
  /** Redis key prefix of locks and slot claims. */
  lockPrefix: string;
  owner: string;
  retry: RetryPolicy;
  metricsPort: number;
  dataDir: string;
}

export const LOCK_PREFIX = 'twinlane:orchestration:';

export function schedulerOptions(c: ConfigValues, overrides: Partial<SchedulerOptions> = {}): SchedulerOptions {
  return {
    timezone: c.SCHEDULER_TZ,
    crons: { batch: c.SCHEDULER_BATCH_CRON, compaction: c.SCHEDULER_COMPACTION_CRON, retention: c.SCHEDULER_RETENTION_CRON },
    lockTtlMs: c.SCHEDULER_LOCK_TTL,
    lockPrefix: LOCK_PREFIX,
    owner: `${hostname()}:${process.pid}`,
    retry: { attempts: c.SCHEDULER_RETRY_ATTEMPTS, initialDelayMs: c.SCHEDULER_RETRY_DELAY, maxDelayMs: 10 * c.SCHEDULER_RETRY_DELAY },
    metricsPort: c.SCHEDULER_METRICS_PORT,
    dataDir: c.DATA_DIR,
    ...overrides,
  };
}
