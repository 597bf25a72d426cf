/**
 * One place that opens DuckDB. A job that reads the lake always gets a memory limit and a spill
 * folder, so a big day spills to disk instead of running out of memory; a store of small files
 * gets DuckDB's defaults (openSmallDuckDB). Both are in-memory instances over Parquet files, so
 * several processes can use the same data at once (a DuckDB file admits one writing process).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { DependencyError } from './errors.ts';

export interface DuckDBOptions {
  memoryLimit: string;
  threads: number;
  tempDir: string;
  /**
   * DuckDB's `block_allocator_memory`: buffer blocks up to this much are taken from a pool the
   * instance keeps until it closes, instead of malloc and free each time. For an instance that
   * lives for one job only (the batch run): on these virtual machines a page fault is costly, and
   * the batch job's 10M-event day spent about 20% of its CPU in the kernel, mostly faulting in
   * blocks freed and allocated again (batch/README.md, Measured). A long-lived instance (the
   * archiver's) leaves it unset, so that what it uses at a peak goes back.
   */
  blockAllocatorMemory?: string;
}

export interface DuckDB {
  instance: DuckDBInstance;
  conn: DuckDBConnection;
  /** Threads the instance was opened with. */
  threads: number;
  close(): void;
}

/** The error an opener throws when DuckDB cannot start, so each user names itself in it. */
export interface OpenFailure {
  code: string;
  /** What the instance is for, e.g. "the dead-letter store". */
  purpose?: string;
}

const OPEN_FAILED: OpenFailure = { code: 'DUCKDB_OPEN_FAILED' };

/** An instance for scans and aggregations over the lake: bounded memory, spills to `tempDir`. */
export async function openDuckDB(o: DuckDBOptions, failure: OpenFailure = OPEN_FAILED): Promise<DuckDB> {
  mkdirSync(o.tempDir, { recursive: true });
  const settings = { memory_limit: o.memoryLimit, threads: String(o.threads), temp_directory: o.tempDir, preserve_insertion_order: 'false', ...(o.blockAllocatorMemory ? { block_allocator_memory: o.blockAllocatorMemory } : {}) };
  const db = await connect(settings, o.threads, failure);
  await db.conn.run(`SET TimeZone = 'UTC'`).catch(() => undefined); // ICU may be absent; our times are UTC TIMESTAMPs anyway
  return db;
}

let smallInstances = 0;

/**
 * An instance for a store of small files (the dead-letter store): DuckDB's own memory default,
 * since it only ever holds one small file's rows or one page of a listing. Should it spill all the
 * same, it does so in a folder of its own under the OS temp folder, removed on close: DuckDB's
 * default is `.tmp` in the working directory, shared by every instance there.
 */
export async function openSmallDuckDB(threads: number, failure: OpenFailure = OPEN_FAILED): Promise<DuckDB> {
  const spill = join(tmpdir(), `twinlane-duckdb-${process.pid}-${++smallInstances}`);
  const db = await connect({ threads: String(threads), temp_directory: spill }, threads, failure);
  return {
    ...db,
    close: () => {
      db.close();
      rmSync(spill, { recursive: true, force: true });
    },
  };
}

async function connect(settings: Record<string, string>, threads: number, failure: OpenFailure): Promise<DuckDB> {
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(':memory:', settings);
    const conn = await instance.connect();
    const opened = instance;
    return {
      instance: opened,
      conn,
      threads,
      close: () => {
        conn.closeSync();
        opened.closeSync();
      },
    };
  } catch (err) {
    instance?.closeSync();
    const what = failure.purpose === undefined ? '' : ` for ${failure.purpose}`;
    throw new DependencyError(failure.code, `could not open DuckDB${what}: ${(err as Error).message}`, err);
  }
}

/**
 * Runs independent statement sequences at once, each on its own connection, with the `threads`
 * of the instance shared out between them: a single-threaded aggregation skips merging the
 * per-thread hash tables a parallel one builds (a third more CPU for millions of groups), and the
 * sequences together still keep every thread busy. Temp tables stay on their task's connection.
 */
export async function runConcurrently<T>(db: DuckDB, tasks: ((conn: DuckDBConnection) => Promise<T>)[]): Promise<T[]> {
  const { threads } = db;
  if (threads < 2 || tasks.length < 2) return runInTurn(db, tasks);
  const conns = [db.conn, ...(await Promise.all(tasks.slice(1).map(() => db.instance.connect())))];
  await db.conn.run(`SET threads = ${Math.max(1, Math.floor(threads / tasks.length))}`);
  try {
    const settled = await Promise.allSettled(tasks.map((task, i) => task(conns[i]!)));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
  } finally {
    await db.conn.run(`SET threads = ${threads}`);
    for (const c of conns.slice(1)) c.closeSync();
  }
}

/**
 * Runs the sequences one after the other on the instance's connection, with all its threads. Where
 * the work is small this beats runConcurrently: sharing the threads out and back relaunches
 * DuckDB's worker thread, and the statements after that pay about 0.1 s more (measured on days of a
 * few thousand events).
 */
export async function runInTurn<T>(db: DuckDB, tasks: ((conn: DuckDBConnection) => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const task of tasks) out.push(await task(db.conn));
  return out;
}

/**
 * Runs `sql` with DuckDB's join planning off, its joins as written: each hash join is built on its
 * right side. For a statement whose two sides the planner cannot tell apart by size and builds on
 * the wrong one (batch/views.sql.ts VISIT_MINUTES_SQL). The planning is back on afterwards.
 */
export async function runJoinsAsWritten(conn: DuckDBConnection, sql: string, params?: Record<string, DuckDBValue>): Promise<void> {
  await conn.run(`SET disabled_optimizers = 'join_order,build_side_probe_side'`);
  try {
    await conn.run(sql, params);
  } finally {
    await conn.run('RESET disabled_optimizers');
  }
}

/** Converts DuckDB's bigint results to numbers (counts and sums stay far below 2^53). */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'bigint' ? Number(v) : Number(v);
}
