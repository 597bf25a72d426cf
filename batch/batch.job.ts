/**
 * The batch job (contract 5): for each requested day, read the day's lake files with DuckDB,
 * keep one row per event id, and write the day's exact views (deduplicated events, minute/hour/
 * day rollups, per-dimension breakdowns, visitor sketches of the larger sites) into a fresh
 * folder; then publish one new version whose manifest points each day at its folder, and move the
 * pointer. Re-running a day reads the same rows and writes the same views.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DiskGuard, type FreeSpaceSource } from '../core/disk-guard.ts';
import { UsageError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { num, openDuckDB, runConcurrently, runInTurn, runJoinsAsWritten, type DuckDB } from '../core/duckdb.ts';
import { daysBetween, DAY_MS, formatDay, lakePaths, parseDay } from './lake.layout.ts';
import type { BatchOptions } from './options.ts';
import type { BatchRequest, DayEntry, DayRun, RunRecord, VersionManifest } from './types.ts';
import { DAY_CHANNELS_SQL, DAY_DISTINCT_SQL, dayEventsSql, dayEventsUniqueSql, DAY_VALUES_SQL, ENUM_COLUMNS, enumValuesSql, MAX_ENUM_VALUES, enumFactsSql, type DayEnum, type DayEnums, DUPLICATE_HASHES_SQL, LAKE_STATS_SQL, serverSessionsSql, dayMinutesSql, VISIT_MINUTES_SQL, SESSION_MINUTES_SQL, sessionRollupSql, DAY_DIMS_TABLE_SQL, dayEnumRowsSql, visitorBreakdownSql, visitorDimensionsSql, visitorKeyClashesSql, VISITOR_HASH_SQL } from './views.sql.ts';
import { DEFAULT_SESSION_IDLE_MS, MIN_SESSION_IDLE_MS } from '../core/sessions.ts';
import { ViewsStore, watermarkOf, type ViewTable } from './views.store.ts';
import { listValue, timestampValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { resolveCompactions } from './compaction.job.ts';
import { DEFAULT_SKETCH_MIN_VISITORS, writeVisitorSketches } from './visitor.sketches.ts';
import { ErasureList } from '../core/erasure.list.ts';
import { holdToTiers } from './views.retention.ts';
import type { SiteCalendars } from './month.views.ts';
import { DIMENSIONS, type Dimension } from '../core/views.ts';

export interface BatchDeps {
  options: BatchOptions;
  logger?: Logger;
  metrics?: Metrics;
  /** Called before each day and once at the end (done === total). */
  onProgress?: (done: number, total: number, day: string | null) => void;
  now?: () => number;
  /** Where free space is read from (default statfs); tests on machines that forbid mounting set it. */
  freeBytes?: FreeSpaceSource;
  /** Time zones and reporting currencies of the sites' month views (batch/month.views.ts); absent: UTC and USD. */
  sites?: SiteCalendars;
  /**
   * The breakdowns' visitor key when it tells the day's visitors apart (default views.sql.ts
   * VISITOR_HASH_SQL): tests give one that cannot, to check that the job then counts on the ids.
   */
  visitorKey?: string;
}

const VIEW_PARQUET = 'FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880';
/**
 * The day's events are the one big file: Parquet V2 encodings (delta for times and ids) and a
 * 64 KiB cap on string dictionaries (ids stop trying a dictionary early) write it in ~20% less
 * CPU and about half the bytes; low-cardinality columns keep their dictionaries. zstd level 1
 * rather than DuckDB's default: the same time and, oddly but measured twice, 8% fewer bytes on the
 * 10M-event day (42.3 against 46.0 MB), the ids being most of them.
 */
const EVENTS_PARQUET = `${VIEW_PARQUET}, PARQUET_VERSION V2, STRING_DICTIONARY_PAGE_SIZE_LIMIT 65536, COMPRESSION_LEVEL 1`;

/** A path of our own views folder as a SQL literal (table functions in a CTE cannot take `$` parameters twice). */
function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function copiedRows(rows: Record<string, unknown>[]): number {
  return rows.reduce((n, r) => n + num(r.count), 0);
}

/**
 * Makes the day's ENUM types (views.sql.ts ENUM_COLUMNS) for the columns with at most
 * MAX_ENUM_VALUES values among the day's rows; returns column → type for the day's events SQL.
 * Needs `day_distinct` and `day_channels`; dropDayEnums removes what it made.
 */
async function makeDayEnums(conn: DuckDBConnection): Promise<DayEnums> {
  await conn.run(DAY_VALUES_SQL);
  const enums = new Map<string, DayEnum>();
  const facts = (await conn.runAndReadAll(enumFactsSql(ENUM_COLUMNS))).getRowObjectsJS()[0]!;
  for (const [i, column] of ENUM_COLUMNS.entries()) {
    const values = num(facts[`n${i}`]);
    if (values === 0 || values > MAX_ENUM_VALUES) continue;
    await conn.run(`CREATE OR REPLACE TYPE day_${column} AS ENUM (${enumValuesSql(column)})`);
    enums.set(column, { type: `day_${column}`, missing: facts[`m${i}`] as (string | null)[] });
  }
  await conn.run('DROP TABLE day_values');
  return enums;
}

async function dropDayEnums(conn: DuckDBConnection, enums: DayEnums): Promise<void> {
  for (const { type } of enums.values()) await conn.run(`DROP TYPE ${type}`);
}

/** Lake files of a day, the newest mtime among its hour folders and files, and the files' bytes. */
export function lakeDay(dataDir: string, day: string): { files: string[]; stamp: number; bytes: number } {
  const dir = join(lakePaths(dataDir).events, `dt=${day}`);
  const files: string[] = [];
  let stamp = 0;
  let bytes = 0;
  if (!existsSync(dir)) return { files, stamp, bytes };
  for (const h of readdirSync(dir).sort()) {
    if (!h.startsWith('hour=')) continue;
    const hd = join(dir, h);
    stamp = Math.max(stamp, statSync(hd).mtimeMs);
    for (const f of readdirSync(hd).sort()) {
      if (!f.endsWith('.parquet')) continue;
      files.push(join(hd, f));
      const st = statSync(join(hd, f));
      stamp = Math.max(stamp, st.mtimeMs);
      bytes += st.size;
    }
  }
  return { files, stamp, bytes };
}

/**
 * Below these sizes the job's fixed costs outweigh what the settings for large days save; measured
 * on days of 300 to 60,000 events, ten in a run, about 0.2 s a day in all. DuckDB's block pool
 * (block_allocator_memory) saves page faults on a day of millions of events (19 against 23 s on
 * the 10M-event day) but costs about 0.1 s a day on small ones; it pays from about 1M events a day
 * (28 MB of lake). The rollups and breakdowns side by side on two single-threaded connections
 * (runConcurrently) save CPU on large days, but sharing the threads out and back costs about 0.1 s
 * a day; below 200,000 events they run one after the other (runInTurn).
 */
const POOL_MIN_DAY_BYTES = 16 * 1024 * 1024;
const CONCURRENT_MIN_EVENTS = 200_000;

/** Days present in the lake (dt= folders), sorted. */
export function lakeDays(dataDir: string): string[] {
  const root = lakePaths(dataDir).events;
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((d) => /^dt=\d{4}-\d{2}-\d{2}$/.test(d))
    .map((d) => d.slice(3))
    .sort();
}

/**
 * Complete days whose lake changed since their last run, complete days never computed and complete
 * days computed only in part; with `until` (a passed local midnight of a site, mid-way through a
 * UTC day) also that day up to `until` when it is not covered that far yet or its lake changed.
 */
export function dirtyDays(dataDir: string, current: VersionManifest | null, now: number, until?: number): string[] {
  return dirtyParts(dataDir, current, now, until).map((p) => p.day);
}

/** A day to compute, whole or up to `until`. */
export interface DayPart {
  day: string;
  until?: number;
}

/** Where a part's data ends: `until`, or the end of its day. */
export function partEnd(p: DayPart): number {
  return p.until ?? parseDay(p.day) + DAY_MS;
}

/** What `--dirty` (with `until`) would compute: the days of dirtyDays, each whole or up to `until`. */
export function dirtyParts(dataDir: string, current: VersionManifest | null, now: number, until?: number): DayPart[] {
  const cut = until !== undefined && until <= now && until % DAY_MS !== 0 ? until : undefined;
  const parts: DayPart[] = [];
  for (const day of lakeDays(dataDir)) {
    const start = parseDay(day);
    const entry = current?.days[day];
    const lake = lakeDay(dataDir, day);
    if (start + DAY_MS <= now) {
      if (!entry ? lake.files.length > 0 : entry.until !== undefined || lake.stamp > entry.lakeStamp) parts.push({ day });
    } else if (cut !== undefined && start < cut && cut < start + DAY_MS && lake.files.length > 0) {
      if (!entry || (entry.until ?? start + DAY_MS) < cut || lake.stamp > entry.lakeStamp) parts.push({ day, until: cut });
    }
  }
  return parts;
}

function resolveDays(req: BatchRequest, dataDir: string, current: VersionManifest | null, now: number): DayPart[] {
  const picked = [req.dates?.length ? 'dates' : null, req.from || req.to ? 'range' : null, req.dirty ? 'dirty' : null, req.parts?.length ? 'parts' : null].filter(Boolean);
  if (picked.length !== 1) throw new UsageError('BAD_BATCH_REQUEST', 'give exactly one of --date D, --from D --to D, or --dirty');
  if (req.until !== undefined && !req.dirty) throw new UsageError('BAD_BATCH_REQUEST', 'until goes with --dirty only');
  if (req.completeBefore !== undefined && !req.dirty) throw new UsageError('BAD_BATCH_REQUEST', 'completeBefore goes with --dirty only');
  if (req.parts?.length) {
    for (const p of req.parts) parseDay(p.day);
    return [...new Map(req.parts.map((p) => [p.day, p])).values()].sort((a, b) => a.day.localeCompare(b.day)).map((p) => (p.until !== undefined ? { day: p.day, until: p.until } : { day: p.day }));
  }
  if (req.dates?.length) {
    for (const d of req.dates) parseDay(d);
    return [...new Set(req.dates)].sort().map((day) => ({ day }));
  }
  if (req.from || req.to) {
    if (!req.from || !req.to) throw new UsageError('BAD_BATCH_REQUEST', '--from and --to go together');
    return daysBetween(req.from, req.to).map((day) => ({ day }));
  }
  return dirtyParts(dataDir, current, now, req.until);
}

/** Wall and CPU milliseconds of each step of a day (the process's CPU, DuckDB's threads included), for the day's log line. */
class StepTimes {
  readonly steps: Record<string, { ms: number; cpu_ms: number }> = {};
  private wall = performance.now();
  private cpu = process.cpuUsage();

  /** Ends the step `name` (begun when the previous one ended). */
  lap(name: string): void {
    const cpu = process.cpuUsage(this.cpu);
    const now = performance.now();
    this.steps[name] = { ms: Math.round(now - this.wall), cpu_ms: Math.round((cpu.user + cpu.system) / 1000) };
    this.wall = now;
    this.cpu = process.cpuUsage();
  }
}

async function computeDay(db: DuckDB, store: ViewsStore, dataDir: string, part: DayPart, runId: string, sessionIdleMs: number, sketchMinVisitors: number, visitorKey: string): Promise<{ run: DayRun; entry: DayEntry; steps: StepTimes['steps']; breakdownVisitors: 'hashes' | 'ids' }> {
  const t0 = performance.now();
  const steps = new StepTimes();
  const { day } = part;
  const { files, stamp } = lakeDay(dataDir, day);
  const start = parseDay(day);
  // A part of a day ends at `until`: its rows after that wait for the day's next run.
  const end = part.until ?? start + DAY_MS;
  const params = { files: listValue(files), start: timestampValue(BigInt(start) * 1000n), end: timestampValue(BigInt(end) * 1000n) };
  const dayEnd = timestampValue(BigInt(start + DAY_MS) * 1000n);
  const stats = (await db.conn.runAndReadAll(LAKE_STATS_SQL, { ...params, day_end: dayEnd })).getRowObjectsJS()[0]!;
  steps.lap('lake_stats');
  const dirAbs = store.dayDir(day, runId);
  mkdirSync(dirAbs, { recursive: true });
  const dir = relative(store.root, dirAbs);
  const out = (t: ViewTable) => store.tablePath(dir, t);
  await db.conn.run(DUPLICATE_HASHES_SQL, params);
  steps.lap('duplicate_hashes');
  await db.conn.run(DAY_DISTINCT_SQL, params);
  await db.conn.run(DAY_CHANNELS_SQL);
  steps.lap('channels');
  const duplicated = num((await db.conn.runAndReadAll('SELECT count(*) AS n FROM dup')).getRowObjectsJS()[0]!.n);
  const enums = await makeDayEnums(db.conn);
  await db.conn.run('DROP TABLE day_distinct');
  steps.lap('enums');
  // The server's visits are cut on the day's visitor minutes and the previous day's lake rows (a
  // visit across midnight); the day's events are written once, each with its visit; the rollups
  // are grouped from the visits' minutes, the breakdowns from the events file.
  const prev = lakeDay(dataDir, formatDay(start - DAY_MS)).files;
  const tail: Record<string, DuckDBValue> = prev.length ? { prev_files: listValue(prev), prev_start: timestampValue(BigInt(start - DAY_MS) * 1000n) } : {};
  const dayEvents = duplicated ? dayEventsSql(enums) : dayEventsUniqueSql(enums);
  await db.conn.run(dayMinutesSql(dayEvents, prev.length > 0, !duplicated, enums), { ...params, ...tail });
  steps.lap('visitor_minutes');
  await runJoinsAsWritten(db.conn, VISIT_MINUTES_SQL, { start: params.start, idle_ms: sessionIdleMs });
  await db.conn.run('DROP TABLE day_minutes');
  steps.lap('visits');
  await db.conn.run(`COPY (${serverSessionsSql(dayEvents)}) TO $out (${EVENTS_PARQUET})`, { ...params, out: out('events') });
  steps.lap('events_file');
  await db.conn.run(SESSION_MINUTES_SQL);
  const ev = `read_parquet(${sqlString(out('events'))})`;
  const events = num((await db.conn.runAndReadAll(`SELECT count(*) AS n FROM ${ev}`)).getRowObjectsJS()[0]!.n);
  let written = events;
  const copy = async (conn: DuckDBConnection, sql: string, table: ViewTable): Promise<number> =>
    copiedRows((await conn.runAndReadAll(`COPY (${sql}) TO $out (${VIEW_PARQUET}, RETURN_STATS)`, { out: out(table) })).getRowObjectsJS());
  const rollups = async (conn: DuckDBConnection): Promise<number> => {
    let n = 0;
    for (const grain of ['minute', 'hour', 'day'] as const) n += await copy(conn, `${sessionRollupSql(grain)} ORDER BY site_id, bucket`, grain);
    // From each visitor's first minute of the day among the session minutes in memory (one row
    // per visitor); the sites to sketch are read from the day rollup just written.
    n += await writeVisitorSketches(conn, '(SELECT site_id, visitor_id, is_bot FROM session_minutes WHERE fd)', out('day'), out('sketches'), sketchMinVisitors, VIEW_PARQUET);
    await conn.run('DROP VIEW session_minutes');
    await conn.run('DROP TABLE visit_minutes');
    return n;
  };
  // Breakdowns: `visitor_dimensions` once, on all the instance's threads (keyed on the day's ENUMs,
  // dayEnumRowsSql, and on the visitors' hashes when those tell the day's visitors apart: always
  // but for a collision of 64-bit hashes, or a test's key), then one aggregation per dimension,
  // each taken from a queue by whichever connection is free, while the other does the rollups and
  // then joins in. Made first and on both threads, it no longer holds one connection busy while
  // the other, done with the rollups, waits for it: on the 10M-event day it took 2.4–2.5 CPU-s on
  // two threads against 2.2–2.3 on one, in 1.2–1.3 s instead of 2.2–2.3.
  const clashes = num((await db.conn.runAndReadAll(visitorKeyClashesSql(visitorKey))).getRowObjectsJS()[0]!.n);
  const breakdownVisitors = clashes === 0 ? 'hashes' : 'ids';
  await db.conn.run(visitorDimensionsSql(dayEnumRowsSql(ev, enums), breakdownVisitors === 'hashes' ? visitorKey : 'visitor_id'));
  steps.lap('visitor_dimensions');
  await db.conn.run(DAY_DIMS_TABLE_SQL);
  const dimensions: Dimension[] = [...DIMENSIONS];
  const breakdowns = async (conn: DuckDBConnection): Promise<number> => {
    for (let d = dimensions.shift(); d !== undefined; d = dimensions.shift()) await conn.run(`INSERT INTO day_dims ${visitorBreakdownSql(d)}`);
    return 0; // day_dims' rows are counted when dims.parquet is written
  };
  const rollupsThenBreakdowns = async (conn: DuckDBConnection): Promise<number> => (await rollups(conn)) + (await breakdowns(conn));
  // One connection and thread each (single-threaded aggregations skip merging per-thread hash
  // tables); in that order so that run one after the other (a small day, or one thread) they still work.
  for (const n of await (events >= CONCURRENT_MIN_EVENTS ? runConcurrently : runInTurn)(db, [breakdowns, rollupsThenBreakdowns])) written += n;
  written += await copy(db.conn, 'SELECT * FROM day_dims ORDER BY site_id, dimension, value', 'dims');
  steps.lap('rollups_breakdowns');
  await db.conn.run('DROP TABLE visitor_dimensions');
  await db.conn.run('DROP TABLE day_dims');
  await db.conn.run('DROP TABLE dup');
  await db.conn.run('DROP TABLE day_channels');
  await dropDayEnums(db.conn, enums);
  const rowsRead = num(stats.rows_read);
  const outsideDay = num(stats.outside_day);
  const erased = num(stats.erased);
  return {
    steps: steps.steps,
    breakdownVisitors,
    run: { day, rowsRead, events, duplicates: rowsRead - outsideDay - num(stats.after_until) - erased - events, outsideDay, ...(erased > 0 ? { erased } : {}), rowsWritten: written, durationMs: Math.round(performance.now() - t0), ...(part.until !== undefined ? { until: part.until } : {}) },
    entry: { dir, computedAt: Date.now(), lakeStamp: stamp, events, ...(part.until !== undefined ? { until: part.until } : {}), sketchMinVisitors },
  };
}

/**
 * Computes the requested days and publishes a new version. A usage problem (bad date, a day
 * without data) throws UsageError before anything is written; a failure while computing returns
 * a `failed` record and publishes nothing.
 */
export async function runBatch(deps: BatchDeps, req: BatchRequest): Promise<RunRecord> {
  const now = deps.now?.() ?? Date.now();
  const { options } = deps;
  if (options.sessionIdleMs !== undefined && options.sessionIdleMs < MIN_SESSION_IDLE_MS) throw new UsageError('BAD_BATCH_REQUEST', `the session idle timeout is ${options.sessionIdleMs} ms; it must be at least a minute (visits are cut on visitor minutes)`);
  const store = new ViewsStore(options.dataDir);
  const startedAt = Date.now();
  const runId = `${new Date(startedAt).toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
  const record: RunRecord = { runId, status: 'ok', start: new Date(startedAt).toISOString(), end: '', durationMs: 0, version: null, watermark: null, days: [], rowsRead: 0, rowsWritten: 0, errors: [] };
  const finish = (status: RunRecord['status']): RunRecord => {
    record.status = status;
    record.end = new Date().toISOString();
    record.durationMs = Date.now() - startedAt;
    record.rowsRead = record.days.reduce((n, d) => n + d.rowsRead, 0);
    record.rowsWritten = record.days.reduce((n, d) => n + d.rowsWritten, 0);
    deps.metrics?.counter('batch_runs_total', 'Batch runs by status', ['status']).inc({ status });
    deps.metrics?.counter('batch_rows_read_total', 'Lake rows read by batch runs').inc(record.rowsRead);
    deps.metrics?.counter('batch_rows_written_total', 'View rows written by batch runs').inc(record.rowsWritten);
    deps.metrics?.gauge('batch_run_seconds', 'Duration of the last batch run').set(record.durationMs / 1000);
    if (record.watermark !== null) deps.metrics?.gauge('batch_watermark_seconds', 'Batch watermark W (epoch seconds)').set(record.watermark / 1000);
    deps.logger?.info({ event: 'batch_run_finished', run: runId, status, version: record.version, days: record.days.length, rows_read: record.rowsRead, rows_written: record.rowsWritten, errors: record.errors });
    return record;
  };

  const unlock = store.lock();
  try {
    resolveCompactions(options.dataDir);
    const current = store.current();
    const wanted = resolveDays(req, options.dataDir, current, now);
    // A day the lake does not cover to its end yet is held back: computed from part of its records, it would be published short.
    const complete = (p: DayPart) => req.completeBefore === undefined || partEnd(p) <= req.completeBefore;
    let days = wanted.filter(complete);
    const heldParts = wanted.filter((p) => !complete(p));
    const held = heldParts.map((p) => p.day);
    if (held.length > 0) {
      record.held = held;
      record.heldUntil = Math.min(...heldParts.map(partEnd));
      deps.logger?.warn({ event: 'batch_days_held', run: runId, days: held, complete_before: new Date(req.completeBefore!).toISOString() }, `held back ${held.join(', ')}: the lake does not cover their end yet`);
    }
    // An erasure can leave a day without lake files: the day then leaves the version instead.
    const emptied = req.parts ? days.filter((d) => lakeDay(options.dataDir, d.day).files.length === 0).map((d) => d.day) : [];
    if (emptied.length) {
      days = days.filter((d) => !emptied.includes(d.day));
      record.removed = emptied;
    }
    if (!req.dirty && !req.parts) {
      const empty = days.filter((d) => lakeDay(options.dataDir, d.day).files.length === 0).map((d) => d.day);
      if (empty.length) throw new UsageError('NO_DATA', `no lake data for ${empty.join(', ')} (looked in ${join(lakePaths(options.dataDir).events, `dt=${empty[0]}`)})`);
    }
    if (days.length === 0 && emptied.length === 0) {
      deps.onProgress?.(0, 0, null);
      record.version = current?.version ?? null;
      record.watermark = current?.watermark ?? null;
      return finish('noop');
    }
    // A full disk would fail the run mid-write: below the threshold it waits before each day and before publishing.
    const disk = options.diskMinFreeBytes
      ? new DiskGuard({ name: 'batch', path: options.dataDir, minFreeBytes: options.diskMinFreeBytes, intervalMs: options.diskCheckMs ?? 5_000, ...(deps.logger ? { logger: deps.logger } : {}), ...(deps.metrics ? { metrics: deps.metrics } : {}), ...(deps.freeBytes ? { freeBytes: deps.freeBytes } : {}) })
      : undefined;
    await disk?.waitForSpace();
    // The instance lives for this run: with a large day its buffer blocks are pooled up to the memory limit (core/duckdb.ts).
    const pool = days.some((d) => lakeDay(options.dataDir, d.day).bytes >= POOL_MIN_DAY_BYTES);
    const db = await openDuckDB({ ...options.duckdb, tempDir: join(options.dataDir, 'views', '_duckdb_tmp'), ...(pool ? { blockAllocatorMemory: options.duckdb.memoryLimit } : {}) });
    const entries: Record<string, DayEntry> = {};
    try {
      // Erased visitors' rows still in the lake (a file written before the erasure reached it) are left out.
      await db.conn.run(new ErasureList(options.dataDir).macroSql());
      for (const [i, part] of days.entries()) {
        const { day } = part;
        deps.onProgress?.(i, days.length, day);
        await disk?.waitForSpace();
        const { run, entry, steps, breakdownVisitors } = await computeDay(db, store, options.dataDir, part, runId, options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS, options.sketchMinVisitors ?? DEFAULT_SKETCH_MIN_VISITORS, deps.visitorKey ?? VISITOR_HASH_SQL);
        record.days.push(run);
        entries[day] = entry;
        deps.logger?.info({ event: 'batch_day_done', run: runId, day, ...(part.until !== undefined ? { until: new Date(part.until).toISOString() } : {}), rows_read: run.rowsRead, events: run.events, duplicates: run.duplicates, outside_day: run.outsideDay, ms: run.durationMs, steps, breakdown_visitors: breakdownVisitors });
        if (run.outsideDay > 0) record.errors.push(`${day}: ${run.outsideDay} rows in the day's folder have an event time outside the day and were left out`);
      }
    } catch (err) {
      record.errors.push(errorMessage(err));
      deps.logger?.error({ event: 'batch_run_failed', run: runId, err });
      return finish('failed');
    } finally {
      db.close();
    }
    deps.onProgress?.(days.length, days.length, null);
    await disk?.waitForSpace();
    const allDays = { ...(current?.days ?? {}), ...entries };
    for (const d of emptied) delete allDays[d];
    const manifest: VersionManifest = { version: store.nextVersion(), createdAt: Date.now(), runId, parent: current?.version ?? null, watermark: watermarkOf(allDays, now), days: allDays };
    // Month views of the months these days complete, and the retention tiers (batch/views.retention.ts).
    Object.assign(manifest, await holdToTiers({ store, dataDir: options.dataDir, duckdb: options.duckdb, runId, now, previous: current, manifest, ...(options.retention ? { tiers: options.retention } : {}), ...(deps.sites ? { sites: deps.sites } : {}) }));
    store.publish(manifest);
    store.prune(options.versionsKeep);
    record.version = manifest.version;
    record.watermark = manifest.watermark;
    return finish('ok');
  } finally {
    unlock();
  }
}

