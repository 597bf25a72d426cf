/**
 * The scheduler: one node-cron task per scheduled job (nightly batch, hourly compaction,
 * daily retention), each run through the JobRunner (lock, ledger, retries, follow-ups).
 * On start it closes runs a dead process left open, seeds the metrics from the ledger and
 * catches up slots missed while no scheduler ran. stop() stops the cron tasks, aborts retry
 * back-offs and waits for runs in flight.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createTask, validateDetailed, type ScheduledTask } from 'node-cron';
import { BaseService } from '../core/lifecycle.ts';
import { UsageError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { isAlive } from '../core/processes.ts';
import { cronStepMs, lastMissedSlot } from './catch-up.ts';
import { JobRunner, type RetryPolicy, type RunResult } from './job.runner.ts';
import type { JobLedger } from './jobs.ledger.ts';
import type { JobLock } from './job.lock.ts';
import type { SchedulerMetrics } from './scheduler.metrics.ts';
import type { JobDefinition, JobName, Trigger } from './types.ts';

export interface ScheduledJob {
  cron: string;
  job: JobDefinition;
  /** The zone its cron runs in; absent: the scheduler's (SCHEDULER_TZ). */
  timezone?: string;
}

export interface SchedulerDeps {
  ledger: JobLedger;
  lock: JobLock;
  metrics: SchedulerMetrics;
  logger: Logger;
  jobs: ScheduledJob[];
  timezone: string;
  retry: RetryPolicy;
  /** Whether to run missed slots at start (default true). */
  catchUp?: boolean;
  heartbeatMs?: number;
  clock?: () => number;
}

/** Throws a UsageError naming the job and the problem when a cron expression is wrong. */
export function validateSchedule(job: string, cron: string, timezone: string): void {
  const v = validateDetailed(cron);
  if (!v.valid) throw new UsageError('SCHEDULE_INVALID', `cron expression "${cron}" of job ${job} is invalid: ${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new UsageError('SCHEDULE_INVALID', `time zone "${timezone}" is unknown (expected an IANA name such as UTC or Europe/Berlin)`);
  }
}

export class SchedulerService extends BaseService {
  readonly name = 'scheduler';
  private tasks: ScheduledTask[] = [];
  private readonly inFlight = new Set<Promise<RunResult>>();
  private stopController = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  readonly runner: JobRunner;
  private readonly clock: () => number;

  constructor(private readonly deps: SchedulerDeps) {
    super();
    for (const { cron, job, timezone } of deps.jobs) validateSchedule(job.name, cron, timezone ?? deps.timezone);
    this.clock = deps.clock ?? Date.now;
    this.runner = new JobRunner({ ledger: deps.ledger, lock: deps.lock, metrics: deps.metrics, logger: deps.logger, retry: deps.retry, clock: this.clock });
  }

  get heartbeatFile(): string {
    return join(dirname(this.deps.ledger.file), 'scheduler.heartbeat');
  }

  protected async onStart(): Promise<void> {
    this.stopController = new AbortController();
    const { ledger, logger, metrics } = this.deps;
    const abandoned = await ledger.closeAbandoned(isAlive);
    if (abandoned.length) logger.warn({ event: 'runs_abandoned', runs: abandoned.map((r) => `${r.job}/${r.id}`) });
    metrics.seedFromLedger(await ledger.runs());
    const lastBeat = this.readHeartbeat();
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), this.deps.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
    for (const { cron, job, timezone = this.deps.timezone } of this.deps.jobs) {
      const task = createTask(cron, (ctx) => void this.track(this.runner.run(job, 'schedule', this.stopController.signal, floorSecond(ctx.date.getTime()))), {
        name: `twinlane-${job.name}-${timezone}`,
        timezone,
        noOverlap: true,
      });
      await task.start();
      this.tasks.push(task);
      logger.info({ event: 'job_scheduled', job: job.name, cron, timezone, next_run: task.getNextRun()?.toISOString() });
    }
    if (this.deps.catchUp !== false) await this.catchUp(lastBeat);
  }

  protected async onStop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const t of this.tasks) await t.destroy();
    this.tasks = [];
    this.stopController.abort(new Error('scheduler stopping'));
    await Promise.allSettled([...this.inFlight]);
    this.beat();
  }

  /** Runs a job now (the `jobs run` command and `make pipeline`), through the same lock and ledger. */
  runNow(name: JobName, trigger: Trigger = 'manual'): Promise<RunResult> {
    const entry = this.deps.jobs.find((j) => j.job.name === name);
    if (!entry) throw new UsageError('JOB_UNKNOWN', `no job named "${name}" (known: ${this.deps.jobs.map((j) => j.job.name).join(', ')})`);
    return this.track(this.runner.run(entry.job, trigger, this.stopController.signal));
  }

  nextRuns(): { job: JobName; cron: string; next: Date | null }[] {
    return this.tasks.map((t, i) => ({ job: this.deps.jobs[i]!.job.name, cron: this.deps.jobs[i]!.cron, next: t.getNextRun() }));
  }

  /** Waits for every run this scheduler has started (tests and the pipeline command). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private async catchUp(lastBeat: number | undefined): Promise<void> {
    const now = this.clock();
    for (const [i, { cron, job }] of this.deps.jobs.entries()) {
      const lastSlot = await this.deps.ledger.lastSlot(job.name);
      const since = Math.max(lastSlot ?? -Infinity, lastBeat ?? -Infinity);
      const missed = lastMissedSlot(this.tasks[i]!, Number.isFinite(since) ? since : undefined, now, cronStepMs(cron));
      if (missed === undefined) continue;
      this.deps.logger.info({ event: 'job_catch_up', job: job.name, missed_slot: new Date(missed).toISOString() });
      void this.track(this.runner.run(job, 'catch-up', this.stopController.signal, missed));
    }
  }

  private track(p: Promise<RunResult>): Promise<RunResult> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    p.catch((err: unknown) => this.deps.logger.error({ event: 'job_runner_error', err }));
    return p;
  }

  private readHeartbeat(): number | undefined {
    try {
      const v = Number(readFileSync(this.heartbeatFile, 'utf8').trim());
      return Number.isFinite(v) && v > 0 ? v : undefined;
    } catch {
      return undefined;
    }
  }

  private beat(): void {
    try {
      mkdirSync(dirname(this.heartbeatFile), { recursive: true });
      writeFileSync(this.heartbeatFile, String(this.clock()));
    } catch (err) {
      this.deps.logger.warn({ event: 'heartbeat_failed', err });
    }
  }
}

function floorSecond(t: number): number {
  return Math.floor(t / 1000) * 1000;
}
