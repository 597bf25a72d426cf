/** Options of the batch part, built by entry points from core/config.ts values. */
import type { ConfigValues } from '../core/config.ts';
import type { DuckDBOptions } from '../core/duckdb.ts';
import type { RetentionTiers } from '../core/retention.ts';

export interface ArchiverOptions {
  topic: string;
  groupId: string;
  dataDir: string;
  /** How often the erasure list is looked at (ERASURE_REFRESH; default 5 s). */
  erasureRefreshMs?: number;
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
  /** Contract 9's idle timeout (ms) that ends a visit, at least MIN_SESSION_IDLE_MS; default core/sessions.ts DEFAULT_SESSION_IDLE_MS. */
  sessionIdleMs?: number;
  /** Below this many free bytes under dataDir the run waits before each day (and before publishing) until space returns. */
  diskMinFreeBytes?: number;
  diskCheckMs?: number;
  /** Sites with at least this many visitors on a day get a visitor sketch of it; default batch/visitor.sketches.ts DEFAULT_SKETCH_MIN_VISITORS. */
  sketchMinVisitors?: number;
  /**
   * The retention tiers (core/retention.ts): a run deletes past-tier tables from the folders it
   * writes before publishing them, and its version records the tiers so readers hold to them.
   */
  retention?: RetentionTiers;
}

export const ARCHIVER_MEMORY_LIMIT = '256MB';

/**
 * Node flags of the archiver process. V8 grows the heap lazily up to a limit sized from the
 * machine's memory; the archiver's live data is a fetch and small spool segments, so a 256 MB cap
 * makes V8 collect instead of growing (peak RSS about 450-500 → 350-380 MB, same throughput).
 */
export const ARCHIVER_NODE_ARGS: readonly string[] = ['--max-old-space-size=256'];

export function archiverOptions(c: ConfigValues): ArchiverOptions {
  return {
    topic: c.EVENTS_TOPIC,
    groupId: c.LAKE_GROUP,
    dataDir: c.DATA_DIR,
    rollRows: c.LAKE_ROLL_ROWS,
    rollAgeMs: c.LAKE_ROLL_AGE,
    sessionTimeoutMs: c.LAKE_SESSION_TIMEOUT,
    erasureRefreshMs: c.ERASURE_REFRESH,
    // One thread: conversions are small segments, and one thread spent about 45% less DuckDB CPU on them (measured).
    duckdb: { memoryLimit: ARCHIVER_MEMORY_LIMIT, threads: 1 },
  };
}

export function batchOptions(c: ConfigValues): BatchOptions {
  return { dataDir: c.DATA_DIR, versionsKeep: c.BATCH_VERSIONS_KEEP, duckdb: { memoryLimit: c.BATCH_MEMORY_LIMIT, threads: c.BATCH_THREADS }, sessionIdleMs: c.SESSION_IDLE_TIMEOUT, diskMinFreeBytes: c.DISK_MIN_FREE, diskCheckMs: c.DISK_CHECK_INTERVAL, retention: retentionTiers(c) };
}

/** The retention tiers of the configuration: the raw events follow the lake. */
export function retentionTiers(c: ConfigValues): RetentionTiers {
  return { events: c.RETENTION_LAKE, minute: c.RETENTION_VIEWS_MINUTE, hour: c.RETENTION_VIEWS_HOUR, day: c.RETENTION_VIEWS_DAY };
}
