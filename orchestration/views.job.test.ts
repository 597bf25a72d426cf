/**
 * The `views` step (BATCH_VIEWS_STORE=clickhouse) in the batch job's chain, with fake ports: it
 * runs after every successful batch run, drift and speed retirement wait for it, its failure
 * stops the retirement (serving's W did not move), and the warehouse step still runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DependencyError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { batchJob } from './nightly-batch.job.ts';
import { flattenRuns, JobRunner } from './job.runner.ts';
import { MemoryJobLock } from './job.lock.ts';
import { JobLedger } from './jobs.ledger.ts';
import { SchedulerMetrics } from './scheduler.metrics.ts';
import type { BatchRunResult, ViewsPublishPort } from './types.ts';

const D1 = Date.UTC(2026, 2, 1);
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function wiring(views: ViewsPublishPort, result: () => BatchRunResult) {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-viewsjob-'));
  dirs.push(dir);
  const ledger = JobLedger.inDataDir(dir);
  const sm = new SchedulerMetrics(new Metrics());
  const runner = new JobRunner({ ledger, lock: new MemoryJobLock(), metrics: sm, logger: silentLogger(), retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 2 } });
  const retired: number[] = [];
  const job = batchJob({
    batch: { run: async () => result() },
    speed: { retireBefore: async (t) => (retired.push(t), { minutesDeleted: 1 }) },
    views,
    warehouse: { sync: async () => ({ loaded: [], dropped: [], unchanged: 1 }) },
    schedulerMetrics: sm,
  });
  return { ledger, retired, run: () => runner.run(job, 'manual', new AbortController().signal) };
}

const published: BatchRunResult = { published: true, days: ['2026-03-01'], rows: 10, previousWatermark: null, watermark: D1 + DAY, version: 'v000001' };

describe('views step after the batch run', () => {
  it('publishes before the speed retirement, and records what it copied', async () => {
    const w = wiring({ publish: async () => ({ version: 'v000001', watermark: D1 + DAY, moved: true, loaded: [{ dir: 'days/2026-03-01/r1', shard: 0, rows: 10 }], dropped: [] }) }, () => published);
    const r = await w.run();
    expect(flattenRuns(r).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'views:succeeded', 'speed-retire:succeeded', 'warehouse:succeeded']);
    expect(w.retired).toEqual([D1 + DAY]);
    const [run] = await w.ledger.list({ job: 'views' });
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'after-batch', days: ['2026-03-01'], rows: 10, details: { store: 'clickhouse', version: 'v000001', moved: true } });
    await w.ledger.close();
  });

  it('holds the retirement back when it fails; the warehouse step still runs', async () => {
    const w = wiring(
      {
        publish: async () => {
          throw new DependencyError('CLICKHOUSE_UNAVAILABLE', 'ClickHouse at http://127.0.0.1:1 is unavailable (creating the views database): ECONNREFUSED');
        },
      },
      () => published,
    );
    const r = await w.run();
    expect(flattenRuns(r).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'views:failed', 'warehouse:succeeded']);
    expect(w.retired).toEqual([]);
    await w.ledger.close();
  });
});
