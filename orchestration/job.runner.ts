/**
 * Runs one job once: takes its lock, records the run in the ledger, retries failed attempts
 * with back-off, updates the metrics, then runs the job's follow-ups (batch → drift → speed
 * retire) in order. Never throws for a job failure: the outcome is the returned run.
 */
import type { Logger } from '../core/logger.ts';
import { TwinlaneError, errorMessage } from '../core/errors.ts';
import { retry, RetryAbortedError, type RetryOptions } from '../core/retry.ts';
import type { JobLedger } from './jobs.ledger.ts';
import type { JobLock } from './job.lock.ts';
import type { SchedulerMetrics } from './scheduler.metrics.ts';
import type { JobDefinition, JobOutput, JobRun, Trigger } from './types.ts';

/** Attempts of a job run (the first included) and its back-off: the core retry helper's numbers. */
export type RetryPolicy = Pick<RetryOptions, 'attempts' | 'initialDelayMs' | 'maxDelayMs'>;

export interface JobRunnerDeps {
  ledger: JobLedger;
  lock: JobLock;
  metrics: SchedulerMetrics;
  logger: Logger;
  retry: RetryPolicy;
  clock?: () => number;
}

export type RunResult =
  | { status: 'skipped'; job: string; reason: 'locked' | 'slot-taken' | 'stopping'; heldBy?: string }
  | { status: 'succeeded' | 'failed'; job: string; run: JobRun; output?: JobOutput; followUps: RunResult[] };

/** A run and its follow-ups, depth first (batch, drift, speed-retire). */
export function flattenRuns(r: RunResult): RunResult[] {
  return [r, ...(r.status === 'skipped' ? [] : r.followUps.flatMap(flattenRuns))];
}

/** Errors never worth another attempt: a non-retriable TwinlaneError, or a programmer error. */
export function worthRetrying(err: unknown): boolean {
  if (err instanceof TwinlaneError) return err.retriable;
  return !(err instanceof TypeError || err instanceof ReferenceError || err instanceof SyntaxError || err instanceof RangeError);
}

class AbortedError extends TwinlaneError {
  constructor(reason: unknown) {
    super('JOB_ABORTED', `job aborted: ${errorMessage(reason)}`, { retriable: false, cause: reason });
  }
}

export class JobRunner {
  private readonly clock: () => number;
  constructor(private readonly deps: JobRunnerDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /**
   * `slot` (a cron slot, epoch ms) makes the run once-per-slot across schedulers.
   * `stopSignal` aborts retries' back-off and tells the job to wind down.
   */
  async run(job: JobDefinition, trigger: Trigger, stopSignal: AbortSignal, slot?: number, slotTtlMs = 86_400_000): Promise<RunResult> {
    const { lock, logger } = this.deps;
    if (stopSignal.aborted) return { status: 'skipped', job: job.name, reason: 'stopping' };
    const held = await lock.acquire(job.name);
    if (!held) {
      const heldBy = await lock.holder(job.name).catch(() => undefined);
      logger.info({ event: 'job_skipped', job: job.name, trigger, reason: 'locked', held_by: heldBy });
      this.deps.metrics.skipped.inc({ job: job.name, reason: 'locked' });
      return { status: 'skipped', job: job.name, reason: 'locked', ...(heldBy ? { heldBy } : {}) };
    }
    try {
      if (slot !== undefined && !(await lock.claimSlot(job.name, slot, slotTtlMs))) {
        logger.info({ event: 'job_skipped', job: job.name, trigger, reason: 'slot-taken', slot: new Date(slot).toISOString() });
        this.deps.metrics.skipped.inc({ job: job.name, reason: 'slot-taken' });
        return { status: 'skipped', job: job.name, reason: 'slot-taken' };
      }
      return await this.runLocked(job, trigger, AbortSignal.any([stopSignal, held.lost]), slot);
    } finally {
      await held.release();
    }
  }

  private async runLocked(job: JobDefinition, trigger: Trigger, signal: AbortSignal, slot: number | undefined): Promise<RunResult> {
    const { ledger, metrics, logger } = this.deps;
    const run = await ledger.begin(job.name, trigger, slot);
    const t0 = this.clock();
    metrics.running.set({ job: job.name }, 1);
    logger.info({ event: 'job_started', job: job.name, run_id: run.id, trigger });
    let attempt = 0;
    let output: JobOutput | undefined;
    let failure: unknown;
    try {
      output = await this.withRetries(job, trigger, slot, signal, (n) => (attempt = n));
    } catch (err) {
      failure = err;
    } finally {
      metrics.running.set({ job: job.name }, 0);
    }
    const durationS = (this.clock() - t0) / 1000;
    if (failure === undefined && output) {
      const days = output.days ?? [];
      const rows = output.rows ?? 0;
      const details = output.details ?? {};
      await ledger.finish(run.id, { status: 'succeeded', attempts: attempt, days, rows, details });
      metrics.recordSuccess(job.name, this.clock(), durationS);
      logger.info({ event: 'job_succeeded', job: job.name, run_id: run.id, attempts: attempt, duration_s: durationS, days: days.length, rows });
      const finished: JobRun = { ...run, status: 'succeeded', endedAt: this.clock(), attempts: attempt, days, rows, details };
      const followUps: RunResult[] = [];
      for (const next of output.next ?? []) {
        const r = await this.run(next, 'after-batch', signal);
        followUps.push(r);
        if (r.status !== 'succeeded') break;
      }
      for (const next of output.independent ?? []) followUps.push(await this.run(next, 'after-batch', signal));
      return { status: 'succeeded', job: job.name, run: finished, output, followUps };
    }
    const error = errorMessage(failure);
    const errorCode = failure instanceof TwinlaneError ? failure.code : 'JOB_FAILED';
    await ledger.finish(run.id, { status: 'failed', attempts: attempt, error, errorCode });
    metrics.recordFailure(job.name, durationS);
    logger.error({ event: 'job_failed', job: job.name, run_id: run.id, attempts: attempt, error, code: errorCode });
    return { status: 'failed', job: job.name, run: { ...run, status: 'failed', endedAt: this.clock(), attempts: attempt, error, errorCode }, followUps: [] };
  }

  /** Attempts through the core retry helper; a stop ends the back-off and the run is JOB_ABORTED. */
  private async withRetries(job: JobDefinition, trigger: Trigger, slot: number | undefined, signal: AbortSignal, onAttempt: (n: number) => void): Promise<JobOutput> {
    const { attempts, initialDelayMs, maxDelayMs } = this.deps.retry;
    const runAttempt = (attempt: number): Promise<JobOutput> => {
      onAttempt(attempt);
      return job.run({ trigger, attempt, signal, ...(slot === undefined ? {} : { scheduledFor: slot }) });
    };
    try {
      return await retry(runAttempt, {
        attempts,
        initialDelayMs,
        maxDelayMs,
        signal,
        shouldRetry: worthRetrying,
        onRetry: (err, attempt, delay) => {
          this.deps.logger.warn({ event: 'job_retry', job: job.name, attempt, delay_ms: delay, error: errorMessage(err) });
          this.deps.metrics.retries.inc({ job: job.name });
        },
      });
    } catch (err) {
      if (!(err instanceof RetryAbortedError)) throw err;
      // A run stopped before its first attempt is still recorded with one, as it always was.
      if (err.attemptsMade === 0) onAttempt(1);
      throw new AbortedError(err.reason);
    }
  }
}
