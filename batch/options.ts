/** Options of the batch part, built by entry points from core/config.ts values. */
import type { ConfigValues } from '../core/config.ts';
import type { DuckDBOptions } from './duckdb.ts';

export interface ArchiverOptions {
  topic: string;
  groupId: string;
  dataDir: string;
  /** Roll when the buffered rows of all partitions reach this. */
  rollRows: number;
  /** Roll when the oldest buffered row is this old (ms). */
  rollAgeMs: number;
  /** DuckDB of the archiver: small, it only converts spools to Parquet. */
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** How often the age of the spools is checked (ms). */
  tickMs?: number;
  /** Kafka session timeout (ms): how soon a dead archiver's partitions move. */
  sessionTimeoutMs?: number;
}

export interface BatchOptions {
  dataDir: string;
  versionsKeep: number;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
}

export const ARCHIVER_MEMORY_LIMIT = '256MB';

export function archiverOptions(c: ConfigValues): ArchiverOptions {
  return {
    topic: c.EVENTS_TOPIC,
    groupId: c.LAKE_GROUP,
    dataDir: c.DATA_DIR,
    rollRows: c.LAKE_ROLL_ROWS,
    rollAgeMs: c.LAKE_ROLL_AGE,
    sessionTimeoutMs: c.LAKE_SESSION_TIMEOUT,
    duckdb: { memoryLimit: ARCHIVER_MEMORY_LIMIT, threads: 2 },
  };
}

export function batchOptions(c: ConfigValues): BatchOptions {
  return { dataDir: c.DATA_DIR, versionsKeep: c.BATCH_VERSIONS_KEEP, duckdb: { memoryLimit: c.BATCH_MEMORY_LIMIT, threads: c.BATCH_THREADS } };
}
