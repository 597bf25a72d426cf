/**
 * ClickHouse stopped while a batch version is being published into it (BATCH_VIEWS_STORE=
 * clickhouse). A private clickhouse-server (free ports, its own data folder) is SIGKILLed once
 * every folder is copied, right before the pointer would move. The batch job runs as the scheduler
 * runs it (job runner, retries, ledger): the batch run succeeds; the `views` step fails after its
 * retries with a clear error, and the speed retirement that waits for it does not run (serving's W
 * did not move); serving, reading ClickHouse, keeps answering from the previous version. With the
 * server back, the next run (nothing new to compute) publishes the version, and a rollback moves
 * ClickHouse back with the files.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, type DuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { stopPid, type StackPaths } from '../core/processes.ts';
import { generateTraffic } from '../traffic/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { formatDay, ViewsStore } from '../batch/index.ts';
import { ClickHouseConnection, clickhouseOptions, quoteString } from './index.ts';
import { batchPorts, clickhouseViewsReader, viewsPublishPorts } from '../apps/index.ts';
import { batchJob, flattenRuns, JobLedger, JobRunner, MemoryJobLock, SchedulerMetrics, type RunResult } from '../orchestration/index.ts';
import { clickhouseBinary, startClickHouse, type ClickHouseServerSpec } from '../stack/index.ts';
import { testConfig, waitUntil } from '../testing/helpers.ts';
import { truthTotals } from '../testing/truth.ts';
import { dedupeEarliest, writeLakeEvents } from './testing/lake.fixture.ts';

const DAY_MS = 86_400_000;
const D = Date.UTC(2026, 2, 14);
const root = mkdtempSync(join(tmpdir(), 'twinlane-views-down-'));
const paths: StackPaths = { root, state: join(root, 'state'), logs: join(root, 'logs'), kafkaLibs: '', kafkaData: '' };
const spec: ClickHouseServerSpec = { name: 'clickhouse-views-down', dir: join(root, 'clickhouse') };
const dataDir = join(root, 'data');
let url = '';
let pid = 0;
let db: DuckDB;
const written: TwinlaneEvent[] = [];
let killBeforeFlip = false;
const retired: number[] = [];

const config = () => testConfig({ DATA_DIR: dataDir, CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: 'views_down', BATCH_VIEWS_STORE: 'clickhouse', WAREHOUSE_ENABLED: 'false' });

async function startPrivate(): Promise<void> {
  ({ url, pid } = await startClickHouse(paths, spec, () => undefined));
}

/** The batch job with its `views` step and the speed retirement after it, as the scheduler builds them. */
function jobWiring(): { run: () => Promise<RunResult>; close: () => Promise<void> } {
  const batch = batchPorts(config(), silentLogger());
  const views = viewsPublishPorts(config(), silentLogger(), {
    beforeFlip: async () => {
      if (!killBeforeFlip) return;
      killBeforeFlip = false;
      process.kill(pid, 'SIGKILL');
      await stopPid(pid, 5_000);
    },
  })!;
  const sm = new SchedulerMetrics(new Metrics());
  const ledger = JobLedger.inDataDir(dataDir);
  const runner = new JobRunner({ ledger, lock: new MemoryJobLock(), metrics: sm, logger: silentLogger(), retry: { attempts: 2, initialDelayMs: 50, maxDelayMs: 100 } });
  const job = batchJob({ batch: batch.batch, views: views.views, speed: { retireBefore: async (t) => (retired.push(t), { minutesDeleted: 0 }) }, schedulerMetrics: sm });
  return {
    run: () => runner.run(job, 'manual', new AbortController().signal),
    close: async () => {
      await views.close();
      await batch.close();
      await ledger.close();
    },
  };
}

/** What serving answers from ClickHouse now: the version and the day's page views of `site`. */
async function served(site: string, day: number): Promise<{ version: string | null; pageviews: number | undefined }> {
  const reader = clickhouseViewsReader(config())!;
  try {
    const snap = await reader.snapshot();
    const totals = await snap?.totals({ site, from: day, to: day + DAY_MS, metrics: ['pageviews'] });
    return { version: snap?.version ?? null, pageviews: totals?.pageviews };
  } finally {
    await reader.close();
  }
}

const statuses = (r: RunResult) => flattenRuns(r).map((f) => `${f.job}:${f.status}`);
const truthPageviews = (events: readonly TwinlaneEvent[], site: string, day: number) => truthTotals(dedupeEarliest(events), { site, from: day, to: day + DAY_MS }).pageviews;

beforeAll(async () => {
  mkdirSync(dataDir, { recursive: true });
  await startPrivate();
  db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(root, 'fixture-tmp') });
  const events = [...generateTraffic({ seed: 152, sites: ['shop', 'blog'], from: D, to: D + DAY_MS, events: 4_000 })];
  await writeLakeEvents(db, dataDir, events, 'first');
  written.push(...events);
});

afterAll(async () => {
  if (pid) await stopPid(pid, 10_000);
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!clickhouseBinary())('ClickHouse stopped while a batch version is published into it', () => {
  it('fails the views step, keeps serving the previous version and speed data, and the next run publishes', async () => {
    let w = jobWiring();
    try {
      const first = await w.run();
      expect(statuses(first)).toEqual(['batch:succeeded', 'views:succeeded', 'speed-retire:succeeded']);
      const v1 = new ViewsStore(dataDir).pointer()!.version;
      expect(await served('shop', D)).toEqual({ version: v1, pageviews: truthPageviews(written, 'shop', D) });
      expect(retired).toEqual([D + DAY_MS]);

      // A second day (W moves) and late events of the first; the server dies before the pointer moves.
      const next = [...generateTraffic({ seed: 153, sites: ['shop', 'blog'], from: D + DAY_MS, to: D + 2 * DAY_MS, events: 2_000 })];
      const late = [...generateTraffic({ seed: 154, sites: ['shop'], from: D, to: D + DAY_MS, events: 300 })];
      await writeLakeEvents(db, dataDir, [...next, ...late], 'second');
      const before = [...written];
      written.push(...next, ...late);
      killBeforeFlip = true;
      const second = await w.run();
      expect(statuses(second)).toEqual(['batch:succeeded', 'views:failed']);
      const step = flattenRuns(second)[1]!;
      expect(step.status === 'failed' && step.run).toMatchObject({ attempts: 2, errorCode: 'RETRIES_EXHAUSTED' });
      expect(step.status === 'failed' && step.run.error).toMatch(/ClickHouse at http:\/\/127\.0\.0\.1:\d+ is unavailable/);
      expect(retired, 'no retirement while serving still has the old W').toEqual([D + DAY_MS]);
      const v2 = new ViewsStore(dataDir).pointer()!.version;
      expect(v2).not.toBe(v1);

      // Back up: serving still answers from v1, whole (nothing of the copied folders shows).
      await startPrivate();
      await w.close();
      w = jobWiring();
      expect(await served('shop', D)).toEqual({ version: v1, pageviews: truthPageviews(before, 'shop', D) });

      // The next run has nothing to compute, yet it publishes v2; the retirement then runs in the run that moves W.
      const third = await w.run();
      expect(statuses(third)).toEqual(['batch:succeeded', 'views:succeeded']);
      expect(third.status === 'succeeded' && third.run.details.published).toBe(false);
      expect(await served('shop', D)).toEqual({ version: v2, pageviews: truthPageviews(written, 'shop', D) });
      expect(await served('blog', D + DAY_MS)).toEqual({ version: v2, pageviews: truthPageviews(written, 'blog', D + DAY_MS) });

      // Rollback: the files' pointer moves back, and publishing moves ClickHouse's with it.
      new ViewsStore(dataDir).rollback();
      const views = viewsPublishPorts(config(), silentLogger())!;
      try {
        const r = await views.views.publish({ signal: new AbortController().signal });
        expect(r).toMatchObject({ version: v1, moved: true, loaded: [] });
      } finally {
        await views.close();
      }
      expect(await served('shop', D)).toEqual({ version: v1, pageviews: truthPageviews(before, 'shop', D) });

      // A folder copied in part (its rows there, no record: the copy stopped before its end) is
      // removed and copied again, never doubled: its events partition dropped, its rollup and
      // breakdown rows deleted (a mutation, awaited).
      const dir = new ViewsStore(dataDir).current()!.days[formatDay(D)]!.dir;
      const ch = new ClickHouseConnection(clickhouseOptions(config())!);
      try {
        await ch.command(`ALTER TABLE views_down.view_dirs DELETE WHERE dir = ${quoteString(dir)}`, 'forgetting a folder');
        await waitUntil('the record deleted', async () => Number((await ch.rows<{ n: string }>(`SELECT count() AS n FROM views_down.view_dirs WHERE dir = ${quoteString(dir)}`, 'count'))[0]!.n) === 0);
        const publisher = viewsPublishPorts(config(), silentLogger())!;
        try {
          const again = await publisher.views.publish({ signal: new AbortController().signal });
          expect(again.loaded.map((l) => l.dir)).toEqual([dir]);
        } finally {
          await publisher.close();
        }
        const hourly = await ch.rows<{ n: string; pv: string }>(`SELECT count() AS n, sum(pageviews) AS pv FROM views_down.view_hour WHERE dir = ${quoteString(dir)} AND site_id = 'shop'`, 'hours');
        expect(Number(hourly[0]!.n)).toBe(24);
        expect(Number(hourly[0]!.pv)).toBe(truthPageviews(before, 'shop', D));
      } finally {
        await ch.close();
      }
      expect(await served('shop', D)).toEqual({ version: v1, pageviews: truthPageviews(before, 'shop', D) });
    } finally {
      await w.close();
    }
  });
});
