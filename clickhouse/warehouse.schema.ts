/**
 * The warehouse tables (contract 11): `events`, each day's deduplicated events, and
 * `warehouse_loads`, one row per load or drop of a day (the newest row per day says which batch
 * computation the day holds; `owner` names the DATA_DIR whose batch versions the database mirrors). Column types are ones ClickHouse 18.16 and current releases both
 * accept: String, Nullable(String), UInt8, Int32, Int64, DateTime('UTC') and Array(String) —
 * no LowCardinality, DateTime64, Map or TTL (18.16 lacks or only experiments with them).
 *
 * Each column also names the DuckDB expression that turns a lake row into its CSV field, so the
 * table and the export can never disagree on the order or the form of a column.
 */
import { qualifiedName, quoteIdentifier, quoteString } from './sql.quote.ts';

export const EVENTS_TABLE = 'events';
export const LOADS_TABLE = 'warehouse_loads';
export const STAGING_PREFIX = 'events_staging_';
/** In a cluster: every shard's `events` through one Distributed table (on the entry server). */
export const EVENTS_ALL_TABLE = 'events_all';

type Kind = 'text' | 'optional-text' | 'seconds' | 'millis' | 'flag' | 'keys' | 'values' | 'int64' | 'int32';

export interface WarehouseColumn {
  name: string;
  /** ClickHouse type. */
  type: string;
  /** The lake column it comes from (contract 4). */
  lake: string;
  kind: Kind;
}

const TYPES: Record<Kind, string> = {
  text: 'String',
  'optional-text': 'Nullable(String)',
  seconds: "DateTime('UTC')",
  millis: 'Int64',
  flag: 'UInt8',
  keys: 'Array(String)',
  values: 'Array(String)',
  int64: 'Nullable(Int64)',
  int32: 'Nullable(Int32)',
};

const col = (name: string, kind: Kind, lake = name): WarehouseColumn => ({ name, type: TYPES[kind], lake, kind });

/**
 * The event fields of contract 1, in table order. Required Avro fields are plain columns (''
 * when a foreign lake file lacks them), optional ones Nullable. `ip_hash` stays in the lake: it
 * serves abuse handling, not analysis, and this store is open to ad-hoc SQL.
 */
export const WAREHOUSE_COLUMNS: readonly WarehouseColumn[] = [
  col('event_id', 'text'),
  col('site_id', 'text'),
  col('type', 'text'),
  col('name', 'text'),
  col('event_time', 'seconds'),
  col('event_time_ms', 'millis', 'event_time'),
  col('received_time', 'seconds'),
  col('visitor_id', 'text'),
  col('session_id', 'text'),
  col('url', 'text'),
  col('path', 'text'),
  col('hostname', 'text'),
  col('referrer', 'optional-text'),
  col('referrer_host', 'optional-text'),
  col('title', 'optional-text'),
  col('utm_source', 'optional-text'),
  col('utm_medium', 'optional-text'),
  col('utm_campaign', 'optional-text'),
  col('utm_term', 'optional-text'),
  col('utm_content', 'optional-text'),
  col('country', 'optional-text'),
  col('device_type', 'text'),
  col('browser', 'optional-text'),
  col('os', 'optional-text'),
  col('is_bot', 'flag'),
  col('time_adjusted', 'flag'),
  col('property_keys', 'keys', 'properties'),
  col('property_values', 'values', 'properties'),
  col('revenue_micros', 'int64'),
  col('currency', 'optional-text'),
  col('screen_width', 'int32'),
];

/** Lake columns a day cannot be loaded without. */
export const REQUIRED_LAKE_COLUMNS = ['event_id', 'site_id', 'type', 'event_time', 'received_time', 'visitor_id', 'session_id'] as const;

/** The ORDER BY of `events`: per-site time scans read one contiguous range. */
export const EVENTS_ORDER_BY = '(site_id, event_time, event_id)';

export function eventsDdl(database: string, table = EVENTS_TABLE): string {
  const columns = WAREHOUSE_COLUMNS.map((c) => `  ${c.name} ${c.type}`).join(',\n');
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, table)} (\n${columns}\n) ENGINE = MergeTree\nPARTITION BY toYYYYMMDD(event_time)\nORDER BY ${EVENTS_ORDER_BY}\nSETTINGS index_granularity = 8192`;
}

/** `events_all` over the cluster's `events`, sharded like the batch views (cityHash64 of the site). */
export function distributedEventsDdl(database: string, cluster: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, EVENTS_ALL_TABLE)} AS ${qualifiedName(database, EVENTS_TABLE)} ENGINE = Distributed(${quoteIdentifier(cluster)}, ${quoteIdentifier(database)}, ${quoteIdentifier(EVENTS_TABLE)}, cityHash64(site_id))`;
}

export function loadsDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, LOADS_TABLE)} (
  day Date,
  source String,
  rows UInt64,
  loaded_at DateTime('UTC'),
  loaded_ms Int64,
  load_id String,
  owner String
) ENGINE = MergeTree
ORDER BY (day, loaded_ms)
SETTINGS index_granularity = 8192`;
}

export function createDatabaseSql(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}`;
}

/** name and type of every column of a table, in order (system.columns). */
export function columnsSql(database: string, table: string): string {
  return `SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`;
}

/** Staging tables of loads (ours or leftovers of a crashed one) in the database. */
export function stagingTablesSql(database: string): string {
  return `SELECT name FROM system.tables WHERE database = ${quoteString(database)} AND startsWith(name, ${quoteString(STAGING_PREFIX)})`;
}

/** Another pipeline's loads in the database, if any (the newest). */
export function otherOwnerSql(database: string, owner: string): string {
  return `SELECT owner, max(loaded_ms) AS last_ms FROM ${qualifiedName(database, LOADS_TABLE)} WHERE owner != ${quoteString(owner)} GROUP BY owner ORDER BY last_ms DESC LIMIT 1`;
}

/** The newest load row of every day. */
export function loadedDaysSql(database: string): string {
  return `SELECT toString(day) AS load_day, argMax(source, loaded_ms) AS last_source, argMax(rows, loaded_ms) AS last_rows, max(loaded_ms) AS last_ms
  FROM ${qualifiedName(database, LOADS_TABLE)} GROUP BY day ORDER BY day`;
}

// ---- DuckDB side: a lake row → the CSV fields of one warehouse row ----------------------

/** A DuckDB string expression quoting `x` as a ClickHouse array element ('…' with \ and ' escaped). */
const chElement = (x: string) => `'''' || replace(replace(coalesce(${x}, ''), '\\', '\\\\'), '''', '\\''') || ''''`;

/** A DuckDB MAP column's keys or values as the text of a ClickHouse Array(String) (`[]` when empty). */
export function mapPartExpression(src: string, part: 'keys' | 'values'): string {
  const list = part === 'keys' ? `map_keys(${src})` : `map_values(${src})`;
  return `CASE WHEN ${src} IS NULL OR cardinality(${src}) = 0 THEN '[]' ELSE '[' || array_to_string(list_transform(${list}, x -> ${chElement('x')}), ',') || ']' END`;
}

/** The DuckDB expression of one column, given the lake columns the day's files have. */
export function exportExpression(c: WarehouseColumn, lakeColumns: ReadonlySet<string>): string {
  const has = lakeColumns.has(c.lake);
  const src = c.lake;
  switch (c.kind) {
    case 'text':
      return has ? `coalesce(CAST(${src} AS VARCHAR), '')` : `''`;
    case 'optional-text':
      return has ? `CAST(${src} AS VARCHAR)` : 'NULL::VARCHAR';
    case 'seconds':
      return `epoch_ms(CAST(${src} AS TIMESTAMP)) // 1000`;
    case 'millis':
      return `epoch_ms(CAST(${src} AS TIMESTAMP))`;
    case 'flag':
      return has ? `CAST(coalesce(CAST(${src} AS BOOLEAN), false) AS TINYINT)` : '0';
    case 'keys':
    case 'values': {
      if (!has) return `'[]'`;
      return mapPartExpression(src, c.kind);
    }
    case 'int64':
      return has ? `CAST(${src} AS BIGINT)` : 'NULL::BIGINT';
    case 'int32':
      return has ? `CAST(${src} AS INTEGER)` : 'NULL::INTEGER';
  }
}

/** Output columns that are text in the CSV: always quoted, so only NULL is the bare `\N`. */
export function quotedExportColumns(): string[] {
  return WAREHOUSE_COLUMNS.filter((c) => c.kind === 'text' || c.kind === 'optional-text' || c.kind === 'keys' || c.kind === 'values').map((c) => c.name);
}
