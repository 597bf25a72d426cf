/**
 * ClickHouse stopped during a batch run. Reproduced with a private clickhouse-server (free ports,
 * its own data folder, so the shared one never notices) that is SIGKILLed while the warehouse
 * step has filled its staging table and is about to swap the day in. The batch job runs as the
 * scheduler runs it (job runner, retries, ledger): the batch run succeeds and serving answers
 * from the new version; the warehouse step fails after its retries with a clear error; the day
 * keeps its previous copy — one row per event, nothing of the new load. With the server back,
 * the next run (nothing new to compute) makes the warehouse whole.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, type DuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { stopPid, type StackPaths } from '../core/processes.ts';
import { generateTraffic } from '../traffic/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { BatchReader } from '../batch/index.ts';
import { batchPorts, warehousePorts, type WarehousePorts } from '../apps/index.ts';
import { batchJob, flattenRuns, JobLedger, JobRunner, MemoryJobLock, SchedulerMetrics, type RunResult } from '../orchestration/index.ts';
import { clickhouseBinary, startClickHouse, type ClickHouseServerSpec } from '../stack/index.ts';
import { testConfig } from '../testing/helpers.ts';
import { ClickHouseConnection, clickhouseOptions, qualifiedName } from './index.ts';
import { dedupeEarliest, writeLakeEvents } from './testing/lake.fixture.ts';

const DAY = '2026-03-14';
const D = Date.UTC(2026, 2, 14);
const root = mkdtempSync(join(tmpdir(), 'twinlane-warehouse-down-'));
const paths: StackPaths = { root, state: join(root, 'state'), logs: join(root, 'logs'), kafkaLibs: '', kafkaData: '' };
const spec: ClickHouseServerSpec = { name: 'clickhouse-private', dir: join(root, 'clickhouse') };
const dataDir = join(root, 'data');
const database = 'warehouse_down';
let url = '';
let pid = 0;
let db: DuckDB;
const written: TwinlaneEvent[] = [];
let killDuringSwap = false;

async function startPrivate(): Promise<void> {
  ({ url, pid } = await startClickHouse(paths, spec, () => undefined));
}

/** The batch job with its warehouse follow-up, as the scheduler builds it, on a private ClickHouse. */
function jobWiring(): { runner: JobRunner; run: () => Promise<RunResult>; warehouse: WarehousePorts; close: () => Promise<void> } {
  const config = testConfig({ DATA_DIR: dataDir, CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: database, WAREHOUSE_ENABLED: 'true' });
  const batch = batchPorts(config, silentLogger());
  const warehouse = warehousePorts(config, silentLogger(), {
    beforeSwap: async () => {
      if (!killDuringSwap) return;
      killDuringSwap = false;
      process.kill(pid, 'SIGKILL');
      await stopPid(pid, 5_000);
    },
  })!;
  const sm = new SchedulerMetrics(new Metrics());
  const ledger = JobLedger.inDataDir(dataDir);
  const runner = new JobRunner({ ledger, lock: new MemoryJobLock(), metrics: sm, logger: silentLogger(), retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 100 } });
  const job = batchJob({ batch: batch.batch, warehouse: warehouse.warehouse, schedulerMetrics: sm });
  return {
    runner,
    warehouse,
    run: () => runner.run(job, 'manual', new AbortController().signal),
    close: async () => {
      await warehouse.close();
      await batch.close();
      await ledger.close();
    },
  };
}

async function warehouseRows(): Promise<{ rows: number; ids: number }> {
  const ch = new ClickHouseConnection(clickhouseOptions(testConfig({ CLICKHOUSE_URL: url }))!);
  try {
    const [r] = await ch.rows<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${qualifiedName(database, 'events')}`, 'count');
    return { rows: Number(r!.rows), ids: Number(r!.ids) };
  } finally {
    await ch.close();
  }
}

const statuses = (r: RunResult) => flattenRuns(r).map((f) => `${f.job}:${f.status}`);

beforeAll(async () => {
  mkdirSync(dataDir, { recursive: true });
  await startPrivate();
  db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(root, 'fixture-tmp') });
  const events = [...generateTraffic({ seed: 151, sites: ['shop', 'blog'], from: D, to: D + 86_400_000, events: 5_000 })];
  await writeLakeEvents(db, dataDir, events, 'first');
  written.push(...events);
});

afterAll(async () => {
  if (pid) await stopPid(pid, 10_000);
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!clickhouseBinary())('ClickHouse stopped during a batch run', () => {
  it('fails only the warehouse step, keeps the previous copy of the day, and the next run catches up', async () => {
    let w = jobWiring();
    try {
      const first = await w.run();
      expect(statuses(first)).toEqual(['batch:succeeded', 'warehouse:succeeded']);
      expect(await warehouseRows()).toEqual({ rows: written.length, ids: written.length });

      // Late events make the day dirty; the server dies right before the new copy is swapped in.
      const base = written[0]!;
      const late = Array.from({ length: 25 }, (_, i) => ({ ...base, event_id: randomUUID(), event_time: D + 3_600_000 + i * 1000, received_time: D + 2 * 86_400_000 }));
      await writeLakeEvents(db, dataDir, late, 'late');
      written.push(...late);
      killDuringSwap = true;
      const second = await w.run();
      expect(statuses(second)).toEqual(['batch:succeeded', 'warehouse:failed']);
      const step = flattenRuns(second)[1]!;
      expect(step.status === 'failed' && step.run).toMatchObject({ attempts: 2, errorCode: 'RETRIES_EXHAUSTED' });
      expect(step.status === 'failed' && step.run.error).toMatch(/ClickHouse at http:\/\/127\.0\.0\.1:\d+ is unavailable/);

      // Serving reads the batch views, which the batch run published: it has the late events.
      const reader = new BatchReader({ dataDir, duckdb: { memoryLimit: '256MB', threads: 1 } });
      try {
        const totals = await reader.totals({ site: base.site_id, from: D, to: D + 86_400_000, metrics: ['pageviews'] });
        const truth = dedupeEarliest(written).filter((e) => e.site_id === base.site_id && e.type === 'pageview' && !e.is_bot).length;
        expect(totals.pageviews).toBe(truth);
      } finally {
        await reader.close();
      }

      // Back up (on the same ports when they are free; wired again in case they were not): the day
      // still holds its previous copy, whole, once per event.
      await startPrivate();
      await w.close();
      w = jobWiring();
      const before = dedupeEarliest(written.slice(0, written.length - late.length)).length;
      expect(await warehouseRows()).toEqual({ rows: before, ids: before });

      // The next run has nothing to compute, yet its warehouse step loads the day.
      const third = await w.run();
      expect(statuses(third)).toEqual(['batch:succeeded', 'warehouse:succeeded']);
      expect(third.status === 'succeeded' && third.run.details.published).toBe(false);
      const after = dedupeEarliest(written).length;
      expect(await warehouseRows()).toEqual({ rows: after, ids: after });
    } finally {
      await w.close();
    }
  });
});
