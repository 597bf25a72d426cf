/**
 * Read-only SQL for people (`twinlane sql`): one query against the warehouse with `readonly=1`
 * (no writes, no DDL, no settings changes from the query), a time limit (max_execution_time and
 * our own deadline) and a row limit (max_result_rows with result_overflow_mode=break, so the
 * server stops early; the rows past the limit are cut here and the result says it was cut).
 */
import { UsageError } from '../core/errors.ts';
import type { ClickHouseConnection, Settings } from './clickhouse.client.ts';
import type { SqlLimits } from './options.ts';

export interface SqlResult {
  columns: { name: string; type: string }[];
  /** Values as ClickHouse's JSON gives them: 64-bit integers as strings, arrays as arrays. */
  rows: unknown[][];
  /** More rows existed than `maxRows`. */
  truncated: boolean;
  elapsedMs: number;
}

/** Largest result the server may send, whatever the row count. */
const MAX_RESULT_BYTES = 256 * 1024 * 1024;

/** The query without trailing semicolons; refuses an empty one and a FORMAT clause (the output format is ours). */
export function cleanQuery(sql: string): string {
  const q = sql.trim().replace(/(;\s*)+$/, '').trim();
  if (!q) throw new UsageError('SQL_EMPTY', 'the query is empty');
  if (/\bFORMAT\s+[A-Za-z]+\s*$/i.test(q)) throw new UsageError('SQL_FORMAT_CLAUSE', 'leave out the FORMAT clause: choose the output with --format table|csv|json');
  return q;
}

/**
 * Settings of a read-only query. `readonly` comes last: ClickHouse applies URL settings in
 * order, and once readonly=1 is set no further setting (nor a SETTINGS clause) may change.
 */
export function readOnlySettings(limits: SqlLimits): Settings {
  return {
    max_execution_time: Math.max(1, Math.ceil(limits.timeoutMs / 1000)),
    max_result_rows: limits.maxRows + 1,
    result_overflow_mode: 'break',
    max_result_bytes: MAX_RESULT_BYTES,
    readonly: 1,
  };
}

export async function runReadOnlySql(ch: ClickHouseConnection, sql: string, limits: SqlLimits): Promise<SqlResult> {
  const query = cleanQuery(sql);
  const t0 = performance.now();
  const doc = await ch.document<{ meta: { name: string; type: string }[]; data: unknown[][] }>(query, 'JSONCompact', 'running the query', {
    settings: readOnlySettings(limits),
    // The server's limit comes first; ours also covers a server that never answers.
    timeoutMs: limits.timeoutMs + 5_000,
  });
  const truncated = doc.data.length > limits.maxRows;
  return { columns: doc.meta, rows: truncated ? doc.data.slice(0, limits.maxRows) : doc.data, truncated, elapsedMs: Math.round(performance.now() - t0) };
}
