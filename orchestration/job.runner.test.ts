import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DependencyError, UsageError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { JobRunner, worthRetrying } from './job.runner.ts';
import { MemoryJobLock } from './job.lock.ts';
import { JobLedger } from './jobs.ledger.ts';
import { SchedulerMetrics } from './scheduler.metrics.ts';
import type { JobDefinition, JobName } from './types.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-runner-'));
  dirs.push(dir);
  const ledger = JobLedger.inDataDir(dir);
  const lock = new MemoryJobLock();
  const metrics = new SchedulerMetrics(new Metrics());
  const runner = new JobRunner({ ledger, lock, metrics, logger: silentLogger(), retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 } });
  return { ledger, lock, metrics, runner, signal: new AbortController().signal };
}

function job(name: JobName, run: JobDefinition['run']): JobDefinition {
  return { name, run };
}

async function gauge(metrics: SchedulerMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = await metrics.metrics.registry.getSingleMetric(`twinlane_${name}`)!.get();
  return m.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value;
}

describe('JobRunner', () => {
  it('retries a retriable failure with back-off and records one run with its attempts', async () => {
    const { ledger, runner, metrics, signal } = setup();
    let calls = 0;
    const r = await runner.run(
      job('compaction', async (ctx) => {
        calls++;
        expect(ctx.attempt).toBe(calls);
        if (calls < 3) throw new DependencyError('LAKE_BUSY', 'lake busy');
        return { rows: 7, days: ['2026-01-01'] };
      }),
      'manual',
      signal,
    );
    expect(r.status).toBe('succeeded');
    const runs = await ledger.runs();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ job: 'compaction', trigger: 'manual', status: 'succeeded', attempts: 3, rows: 7, days: ['2026-01-01'] });
    expect(await gauge(metrics, 'job_last_success_timestamp_seconds', { job: 'compaction' })).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await gauge(metrics, 'job_retries_total', { job: 'compaction' })).toBe(2);
  });

  it('fails at once on a non-retriable error and records code and message', async () => {
    const { ledger, runner, metrics, signal } = setup();
    let calls = 0;
    const bad = job('batch', async () => {
      calls++;
      throw new UsageError('BAD_DAY', 'day 2026-13-01 is not a date');
    });
    const r = await runner.run(bad, 'manual', signal);
    expect(r.status).toBe('failed');
    expect(calls).toBe(1);
    expect((await ledger.runs())[0]).toMatchObject({ status: 'failed', attempts: 1, errorCode: 'BAD_DAY', error: 'day 2026-13-01 is not a date' });
    expect(await gauge(metrics, 'job_runs_total', { job: 'batch', status: 'failed' })).toBe(1);
    expect(await gauge(metrics, 'job_last_success_timestamp_seconds', { job: 'batch' })).toBeUndefined();
  });

  it('gives up after the configured attempts with RETRIES_EXHAUSTED', async () => {
    const { ledger, runner, signal } = setup();
    const r = await runner.run(job('retention', async () => { throw new Error('EIO'); }), 'schedule', signal, 1_000);
    expect(r.status).toBe('failed');
    expect((await ledger.runs())[0]).toMatchObject({ status: 'failed', attempts: 3, errorCode: 'RETRIES_EXHAUSTED', scheduledFor: 1_000 });
  });

  it('skips a job whose lock is held and a cron slot that already ran', async () => {
    const { ledger, lock, runner, signal } = setup();
    const held = await lock.acquire('batch');
    expect(await runner.run(job('batch', async () => ({})), 'schedule', signal, 5_000)).toMatchObject({ status: 'skipped', reason: 'locked' });
    await held!.release();
    expect((await runner.run(job('batch', async () => ({})), 'schedule', signal, 5_000)).status).toBe('succeeded');
    expect(await runner.run(job('batch', async () => ({})), 'catch-up', signal, 5_000)).toMatchObject({ status: 'skipped', reason: 'slot-taken' });
    expect(await ledger.runs()).toHaveLength(1);
  });

  it('runs follow-ups in order and stops the chain at the first failure', async () => {
    const { ledger, runner, signal } = setup();
    const order: string[] = [];
    const retire = job('speed-retire', async () => {
      order.push('retire');
      return {};
    });
    const goodDrift = job('drift', async () => {
      order.push('drift');
      return { next: [retire] };
    });
    const r = await runner.run(job('batch', async () => (order.push('batch'), { next: [goodDrift] })), 'manual', signal);
    expect(r.status).toBe('succeeded');
    expect(order).toEqual(['batch', 'drift', 'retire']);
    const drift = job('drift', async () => {
      throw new UsageError('NO_SITES', 'no sites');
    });
    const failing = await runner.run(job('batch', async () => ({ next: [drift, retire] })), 'manual', signal);
    expect(failing.status === 'succeeded' && failing.followUps.map((f) => f.status)).toEqual(['failed']);
    expect((await ledger.list({ job: 'speed-retire' })).length).toBe(1);
    expect((await ledger.list({ job: 'drift' })).map((x) => x.trigger)).toEqual(['after-batch', 'after-batch']);
  });

  it('aborts a back-off when stopped', async () => {
    const { runner } = setup();
    const slow = new JobRunner({ ...(runner as unknown as { deps: ConstructorParameters<typeof JobRunner>[0] }).deps, retry: { attempts: 5, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    const stop = new AbortController();
    const t0 = Date.now();
    const p = slow.run(job('compaction', async () => { throw new DependencyError('X', 'down'); }), 'manual', stop.signal);
    setTimeout(() => stop.abort(new Error('stopping')), 50);
    const r = await p;
    expect(r.status).toBe('failed');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.status === 'failed' && r.run.errorCode).toBe('JOB_ABORTED');
  });

  it('does not retry programmer errors', () => {
    expect(worthRetrying(new TypeError('x is undefined'))).toBe(false);
    expect(worthRetrying(new Error('ECONNRESET'))).toBe(true);
    expect(worthRetrying(new DependencyError('A', 'b'))).toBe(true);
    expect(worthRetrying(new UsageError('A', 'b'))).toBe(false);
  });
});
