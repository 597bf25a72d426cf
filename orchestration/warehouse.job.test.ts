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
import type { BatchRunResult, WarehousePort, WarehouseSyncResult } from './types.ts';

const D1 = Date.UTC(2026, 2, 1);
const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function wiring(warehouse: WarehousePort, result: () => BatchRunResult) {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-warehousejob-'));
  dirs.push(dir);
  const ledger = JobLedger.inDataDir(dir);
  const sm = new SchedulerMetrics(new Metrics());
  const runner = new JobRunner({ ledger, lock: new MemoryJobLock(), metrics: sm, logger: silentLogger(), retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 } });
  const retired: number[] = [];
  const job = batchJob({ batch: { run: async () => result() }, speed: { retireBefore: async (t) => (retired.push(t), { minutesDeleted: 1 }) }, warehouse, schedulerMetrics: sm });
  return { ledger, retired, run: () => runner.run(job, 'manual', new AbortController().signal) };
}

const published: BatchRunResult = { published: true, days: ['2026-03-01'], rows: 10, previousWatermark: null, watermark: D1 + DAY, version: 'v1' };
const quiet: BatchRunResult = { published: false, days: [], rows: 0, previousWatermark: D1 + DAY, watermark: D1 + DAY };

describe('warehouse step after the batch run', () => {
  it('runs last, after speed retirement, and records what it loaded', async () => {
    const synced: WarehouseSyncResult = { loaded: [{ day: '2026-03-01', rows: 10, duplicates: 1, source: 'days/2026-03-01/r1' }], dropped: [], unchanged: 3, version: 'v1' };
    const w = wiring({ sync: async () => synced }, () => published);
    const r = await w.run();
    expect(flattenRuns(r).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'speed-retire:succeeded', 'warehouse:succeeded']);
    const [run] = await w.ledger.list({ job: 'warehouse' });
    expect(run).toMatchObject({ status: 'succeeded', trigger: 'after-batch', days: ['2026-03-01'], rows: 10, details: { version: 'v1', unchanged: 3, dropped: [], loaded: [{ day: '2026-03-01', rows: 10, duplicates: 1 }] } });
    await w.ledger.close();
  });

  it('fails alone after its retries when ClickHouse is down; the next run, with nothing to compute, retries it', async () => {
    let up = false;
    let calls = 0;
    const w = wiring(
      {
        sync: async () => {
          calls++;
          if (!up) throw new DependencyError('CLICKHOUSE_UNAVAILABLE', 'ClickHouse at http://127.0.0.1:1 is unavailable (creating the warehouse database): ECONNREFUSED');
          return { loaded: [{ day: '2026-03-01', rows: 10, duplicates: 0, source: 's' }], dropped: [], unchanged: 0 };
        },
      },
      () => (calls === 0 ? published : quiet),
    );
    const down = await w.run();
    expect(down.status).toBe('succeeded');
    expect(flattenRuns(down).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'speed-retire:succeeded', 'warehouse:failed']);
    expect(w.retired).toEqual([D1 + DAY]);
    const failed = flattenRuns(down)[2]!;
    expect(failed.status === 'failed' && failed.run).toMatchObject({ attempts: 3, errorCode: 'RETRIES_EXHAUSTED' });
    expect(failed.status === 'failed' && failed.run.error).toMatch(/ClickHouse at .* is unavailable/);

    up = true;
    const next = await w.run();
    expect(flattenRuns(next).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'warehouse:succeeded']);
    await w.ledger.close();
  });
});
