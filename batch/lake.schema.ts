/**
 * The typed columns of a lake Parquet file (contract 4), one per event field. Any writer that
 * produces these names and types can feed the batch job (a DuckDB `COPY` in a test, Spark, …);
 * `dt` and `hour` live in the path only. Times are TIMESTAMP (UTC, microsecond precision).
 */
export const LAKE_COLUMNS: readonly (readonly [name: string, type: string])[] = [
  ['event_id', 'VARCHAR'],
  ['site_id', 'VARCHAR'],
  ['type', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['event_time', 'TIMESTAMP'],
  ['received_time', 'TIMESTAMP'],
  ['visitor_id', 'VARCHAR'],
  ['session_id', 'VARCHAR'],
  ['url', 'VARCHAR'],
  ['path', 'VARCHAR'],
  ['hostname', 'VARCHAR'],
  ['referrer', 'VARCHAR'],
  ['referrer_host', 'VARCHAR'],
  ['title', 'VARCHAR'],
  ['utm_source', 'VARCHAR'],
  ['utm_medium', 'VARCHAR'],
  ['utm_campaign', 'VARCHAR'],
  ['utm_term', 'VARCHAR'],
  ['utm_content', 'VARCHAR'],
  ['country', 'VARCHAR'],
  ['device_type', 'VARCHAR'],
  ['browser', 'VARCHAR'],
  ['os', 'VARCHAR'],
  ['is_bot', 'BOOLEAN'],
  ['ip_hash', 'VARCHAR'],
  ['time_adjusted', 'BOOLEAN'],
  ['properties', 'MAP(VARCHAR, VARCHAR)'],
  ['revenue_micros', 'BIGINT'],
  ['currency', 'VARCHAR'],
  ['screen_width', 'INTEGER'],
];

/** The spool holds decoded events as JSON lines; times are epoch ms there. */
function spoolType(name: string, type: string): string {
  return type === 'TIMESTAMP' ? 'BIGINT' : type;
}

/** `columns={...}` argument of read_json for a spool file (a constant, no user input). */
export const SPOOL_COLUMNS_SQL = `{${LAKE_COLUMNS.map(([n, t]) => `${n}: '${spoolType(n, t)}'`).join(', ')}}`;

/** SELECT list turning spool rows into lake rows, plus the dt/hour partition columns. */
export const SPOOL_TO_LAKE_SQL = [
  ...LAKE_COLUMNS.map(([n, t]) => (t === 'TIMESTAMP' ? `make_timestamp(${n} * 1000) AS ${n}` : n)),
  `strftime(make_timestamp(event_time * 1000), '%Y-%m-%d') AS dt`,
  `strftime(make_timestamp(event_time * 1000), '%H') AS hour`,
].join(', ');

/** Parquet settings of every lake file: zstd, row groups sized for scans, not for point reads. */
export const LAKE_PARQUET_OPTIONS = 'FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880';
