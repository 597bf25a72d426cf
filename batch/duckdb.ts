/** One place that opens DuckDB, always with a memory limit and a spill folder (MEASURED.md). */
import { mkdirSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DependencyError } from '../core/errors.ts';

export interface DuckDBOptions {
  memoryLimit: string;
  threads: number;
  tempDir: string;
}

export interface DuckDB {
  instance: DuckDBInstance;
  conn: DuckDBConnection;
  /** Threads the instance was opened with. */
  threads: number;
  close(): void;
}

export async function openDuckDB(o: DuckDBOptions): Promise<DuckDB> {
  mkdirSync(o.tempDir, { recursive: true });
  try {
    const instance = await DuckDBInstance.create(':memory:', {
      memory_limit: o.memoryLimit,
      threads: String(o.threads),
      temp_directory: o.tempDir,
      preserve_insertion_order: 'false',
    });
    const conn = await instance.connect();
    await conn.run(`SET TimeZone = 'UTC'`).catch(() => undefined); // ICU may be absent; our times are UTC TIMESTAMPs anyway
    return {
      instance,
      conn,
      threads: o.threads,
      close: () => {
        conn.closeSync();
        instance.closeSync();
      },
    };
  } catch (err) {
    throw new DependencyError('DUCKDB_OPEN_FAILED', `could not open DuckDB: ${(err as Error).message}`, err);
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
  if (threads < 2 || tasks.length < 2) {
    const out: T[] = [];
    for (const task of tasks) out.push(await task(db.conn));
    return out;
  }
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

/** Converts DuckDB's bigint results to numbers (counts and sums stay far below 2^53). */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'bigint' ? Number(v) : Number(v);
}
