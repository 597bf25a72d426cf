/**
 * Two schedulers on the real Redis, the same ledger and the same every-second schedule: each
 * cron slot runs exactly once and runs never overlap; a holder that stops renewing frees its
 * lock after the TTL; a lock taken over while a job runs aborts that job's signal.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { onCleanup, runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { RedisJobLock } from './job.lock.ts';
import { JobLedger } from './jobs.ledger.ts';
import { SchedulerMetrics } from './scheduler.metrics.ts';
import { SchedulerService } from './scheduler.service.ts';

describe('job lock on Redis', () => {
  afterAll(runCleanups);
  const config = testConfig();

  it('runs each slot once across two schedulers, never two runs at a time', async () => {
    const { redis, prefix } = testRedis(config);
    const dir = mkdtempSync(join(tmpdir(), 'twinlane-lock-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    let active = 0;
    let maxActive = 0;
    const ran: { slot: number | undefined; by: string }[] = [];
    const make = (owner: string) =>
      new SchedulerService({
        ledger: JobLedger.inDataDir(dir),
        lock: new RedisJobLock(redis, { prefix, ttlMs: 2_000, owner }),
        metrics: new SchedulerMetrics(new Metrics()),
        logger: silentLogger(),
        timezone: 'UTC',
        retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
        jobs: [
          {
            cron: '* * * * * *',
            job: {
              name: 'compaction',
              run: async (ctx) => {
                active++;
                maxActive = Math.max(maxActive, active);
                ran.push({ slot: ctx.scheduledFor, by: owner });
                await new Promise((r) => setTimeout(r, 300));
                active--;
                return {};
              },
            },
          },
        ],
      });
    const a = make('a');
    const b = make('b');
    await Promise.all([a.start(), b.start()]);
    await new Promise((r) => setTimeout(r, 3_500));
    await Promise.all([a.stop(), b.stop()]);
    expect(ran.length).toBeGreaterThanOrEqual(3);
    expect(maxActive).toBe(1);
    expect(new Set(ran.map((r) => r.slot)).size).toBe(ran.length);
    // Every run of the job is in the ledger as succeeded; a slot whose lock was taken just as the
    // schedulers stopped is recorded without running, as aborted (JOB_ABORTED), and nothing else.
    const runs = await JobLedger.inDataDir(dir).list({ job: 'compaction' });
    expect(runs.filter((r) => r.status === 'succeeded')).toHaveLength(ran.length);
    for (const r of runs.filter((x) => x.status !== 'succeeded')) expect(r).toMatchObject({ status: 'failed', errorCode: 'JOB_ABORTED' });
  });

  it('names the holder, aborts a job whose lock was taken over, and claims a slot once', async () => {
    const { redis, prefix } = testRedis(config);
    const first = new RedisJobLock(redis, { prefix, ttlMs: 400, owner: 'first' });
    const second = new RedisJobLock(redis, { prefix, ttlMs: 400, owner: 'second' });
    const held = await first.acquire('batch');
    expect(held).toBeDefined();
    expect(await second.acquire('batch')).toBeUndefined();
    expect(await second.holder('batch')).toMatch(/^first\//);
    // Someone else overwrites the key (e.g. after a Redis failover lost it): the next renewal notices.
    await redis.set(`${prefix}lock:batch`, 'intruder');
    await new Promise((r) => setTimeout(r, 400));
    expect(held!.lost.aborted).toBe(true);
    await held!.release();
    expect(await redis.get(`${prefix}lock:batch`)).toBe('intruder');
    expect(await second.claimSlot('batch', 1, 1_000)).toBe(true);
    expect(await first.claimSlot('batch', 1, 1_000)).toBe(false);
  });

  it('expires a lock whose holder stopped renewing', async () => {
    const { redis, prefix } = testRedis(config);
    const lock = new RedisJobLock(redis, { prefix, ttlMs: 300, owner: 'x' });
    await redis.set(`${prefix}lock:retention`, 'crashed-holder', 'PX', 300);
    expect(await lock.acquire('retention')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 450));
    const got = await lock.acquire('retention');
    expect(got).toBeDefined();
    await got!.release();
    expect(await redis.exists(`${prefix}lock:retention`)).toBe(0);
  });
});
