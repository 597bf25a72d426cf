/** The scheduler's settings, taken from the validated configuration (core/config.ts). */
import { hostname } from 'node:os';
import type { ConfigValues } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { loadSites } from '../core/sites.ts';
import { validateDetailed } from 'node-cron';
import type { RetryPolicy } from './job.runner.ts';
import type { JobName } from './types.ts';

export interface SchedulerOptions {
  timezone: string;
  /**
   * The sites' time zones (sites file): the nightly batch runs on its cron in each of them, after
   * that zone's local day has closed (contract 9), besides SCHEDULER_TZ.
   */
  siteZones: string[];
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

/** Cron expressions and the time zone, checked once, each problem naming its variable. */
export function checkSchedules(c: ConfigValues): void {
  const problems: string[] = [];
  for (const name of ['SCHEDULER_BATCH_CRON', 'SCHEDULER_COMPACTION_CRON', 'SCHEDULER_RETENTION_CRON'] as const) {
    const v = validateDetailed(c[name]);
    if (!v.valid) problems.push(`${name}=${JSON.stringify(c[name])}: ${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ')} (expected a cron expression such as "0 2 * * *")`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: c.SCHEDULER_TZ });
  } catch {
    problems.push(`SCHEDULER_TZ=${JSON.stringify(c.SCHEDULER_TZ)}: unknown time zone (expected an IANA name such as UTC or Europe/Berlin)`);
  }
  if (problems.length) throw new ConfigError(problems);
}

export function schedulerOptions(c: ConfigValues, overrides: Partial<SchedulerOptions> = {}): SchedulerOptions {
  checkSchedules(c);
  return {
    timezone: c.SCHEDULER_TZ,
    siteZones: [...new Set(loadSites(c.SITES_FILE).list().map((s) => s.timezone))].sort(),
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
