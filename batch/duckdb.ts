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
      close: () => {
        conn.closeSync();
        instance.closeSync();
      },
    };
  } catch (err) {
    throw new DependencyError('DUCKDB_OPEN_FAILED', `could not open DuckDB: ${(err as Error).message}`, err);
  }
}

/** Converts DuckDB's bigint results to numbers (counts and sums stay far below 2^53). */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'bigint' ? Number(v) : Number(v);
}
