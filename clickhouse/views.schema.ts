/**
 * The batch views in ClickHouse (contract 5, second store): the same six tables a batch day
 * folder holds (events, minute, hour, day, dims, sketches), each row tagged with its folder `dir`
 * (`days/<day>/<runId>`) (partitions: PARTITION_BY). A folder is immutable once loaded, so a
 * version is a manifest (day → folder) and the one pointer names the version: a reader pins the
 * pointer's version and reads only its folders, whatever is being loaded meanwhile; rollback and
 * publication are one pointer row each.
 *
 * On one server every table is local. In a cluster (`remote_servers` names the shards) each
 * shard's local tables hold the rows of the sites hashed to it (SHARDING_KEY), a `…_all`
 * Distributed table over them answers reads, and the manifests and the pointer live on the
 * entry server only (the one CLICKHOUSE_URL names).
 *
 * Types are ones ClickHouse 18.16 and current releases both accept (String, UInt8, Int64).
 */
import { BREAKDOWN_METRIC_COLUMNS, DIMENSION_COLUMNS, ROLLUP_METRIC_COLUMNS } from '../core/rollups.ts';
import { MISSING_LABEL, type Dimension } from '../core/views.ts';
import { UsageError } from '../core/errors.ts';
import { qualifiedName, quoteIdentifier, quoteString } from './sql.quote.ts';
import { mapPartExpression } from './warehouse.schema.ts';
import type { ClickHouseConnection } from './clickhouse.client.ts';

export const VIEW_DATA_TABLES = ['events', 'minute', 'hour', 'day', 'dims', 'sketches'] as const;
/** Tables a folder written before them lacks: loaded when the folder has the file (its manifest entry says so too). */
export const OPTIONAL_VIEW_TABLES: ReadonlySet<ViewDataTable> = new Set(['sketches']);
export type ViewDataTable = (typeof VIEW_DATA_TABLES)[number];

/** How a column of a view file becomes a CSV field: DuckDB expression over the Parquet row. */
type Kind = 'text' | 'millis' | 'flag' | 'int64' | 'keys' | 'values';

export interface ViewColumn {
  name: string;
  type: string;
  kind: Kind;
  /** The view file's column (events: event_time for event_ms). */
  source: string;
}

const TYPES: Record<Kind, string> = { text: 'String', millis: 'Int64', flag: 'UInt8', int64: 'Int64', keys: 'Array(String)', values: 'Array(String)' };
const c = (name: string, kind: Kind, source = name): ViewColumn => ({ name, type: TYPES[kind], kind, source });

const DIMENSION_COLUMN_LIST = Object.values(DIMENSION_COLUMNS).map((d) => c(d, 'text'));

/** Columns after `dir`, per table, in table order. */
export const VIEW_COLUMNS: Record<ViewDataTable, readonly ViewColumn[]> = {
  events: [
    c('site_id', 'text'),
    c('type', 'text'),
    c('event_ms', 'millis', 'event_time'),
    c('visitor_id', 'text'),
    c('session_id', 'text'),
    c('is_bot', 'flag'),
    c('revenue_micros', 'int64'),
    ...DIMENSION_COLUMN_LIST,
    // Custom properties (`event:props:<key>`): the day's events' map as two arrays, 18.16 having no Map type.
    c('property_keys', 'keys', 'properties'),
    c('property_values', 'values', 'properties'),
  ],
  minute: [c('site_id', 'text'), c('bucket', 'int64'), ...ROLLUP_METRIC_COLUMNS.map((m) => c(m, 'int64'))],
  hour: [c('site_id', 'text'), c('bucket', 'int64'), ...ROLLUP_METRIC_COLUMNS.map((m) => c(m, 'int64'))],
  day: [c('site_id', 'text'), c('bucket', 'int64'), ...ROLLUP_METRIC_COLUMNS.map((m) => c(m, 'int64'))],
  dims: [c('site_id', 'text'), c('dimension', 'text'), c('value', 'text'), ...BREAKDOWN_METRIC_COLUMNS.map((m) => c(m, 'int64'))],
  // A site's visitor sketch of the day: hex of Redis' dense HyperLogLog (batch/visitor.sketches.ts).
  sketches: [c('site_id', 'text'), c('visitors', 'text')],
};

const ORDER_BY: Record<ViewDataTable, string> = {
  events: '(dir, site_id, event_ms)',
  minute: '(site_id, dir, bucket)',
  hour: '(site_id, dir, bucket)',
  day: '(site_id, dir, bucket)',
  dims: '(site_id, dir, dimension, value)',
  sketches: '(site_id, dir)',
};

/**
 * The day's events, the one big table, keep one partition per folder: a folder is dropped in one
 * step and a query reads only its days' parts. The small tables keep one partition per month
 * of the folder's day, so a 30-day series reads a few merged parts rather than thirty (per-part
 * overhead was most of such a query: 234 against 589 queries/s on two cores, ClickHouse 18.16);
 * a folder leaves them by an `ALTER TABLE … DELETE` that rewrites that month's small parts.
 */
export const PARTITION_BY: Record<ViewDataTable, string> = {
  events: 'dir',
  minute: 'substring(dir, 6, 7)',
  hour: 'substring(dir, 6, 7)',
  day: 'substring(dir, 6, 7)',
  dims: 'substring(dir, 6, 7)',
  sketches: 'substring(dir, 6, 7)',
};

/** Local table names (on every shard) and the Distributed ones over them (cluster only). */
export const viewTable = (t: ViewDataTable) => `view_${t}`;
export const distributedTable = (t: ViewDataTable) => `view_${t}_all`;
/** Per shard: the folders completely loaded there (written last, after the counts were checked). */
export const VIEW_DIRS_TABLE = 'view_dirs';
/** Entry server: one immutable manifest per version. */
export const VIEW_VERSIONS_TABLE = 'view_versions';
/** Entry server: the pointer, one row per move; the newest row (highest seq) is current. */
export const VIEW_POINTER_TABLE = 'view_pointer';

export function viewDataDdl(database: string, t: ViewDataTable): string {
  const cols = [`  dir String`, ...VIEW_COLUMNS[t].map((col) => `  ${col.name} ${col.type}`)].join(',\n');
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, viewTable(t))} (\n${cols}\n) ENGINE = MergeTree\nPARTITION BY ${PARTITION_BY[t]}\nORDER BY ${ORDER_BY[t]}\nSETTINGS index_granularity = 8192`;
}

/**
 * The columns of `t` a table made by an earlier Twinlane lacks (`existing`: the names it has), as
 * `ALTER TABLE … ADD COLUMN` statements (18.16 knows no `IF NOT EXISTS` there). A dimension column
 * defaults to its missing label, so rows of folders loaded before it read as missing, never as an
 * empty value; those folders are loaded again once the batch views are recomputed (DATA_DIR format 4).
 */
export function addedColumnsDdl(qualifiedTable: string, t: ViewDataTable, existing: ReadonlySet<string>): string[] {
  const labels = MISSING_LABEL as Readonly<Record<string, string>>;
  return VIEW_COLUMNS[t]
    .filter((col) => !existing.has(col.name))
    .map((col) => {
      const def = col.kind === 'text' ? quoteString(col.name in DIMENSION_COLUMNS ? labels[col.name as Dimension]! : '') : col.kind === 'keys' || col.kind === 'values' ? '[]' : '0';
      return `ALTER TABLE ${qualifiedTable} ADD COLUMN ${quoteIdentifier(col.name)} ${col.type} DEFAULT ${def}`;
    });
}

/** Reads of a cluster: every shard's local table of `t`. */
export function distributedDdl(database: string, cluster: string, t: ViewDataTable): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, distributedTable(t))} AS ${qualifiedName(database, viewTable(t))} ENGINE = Distributed(${quoteIdentifier(cluster)}, ${quoteIdentifier(database)}, ${quoteIdentifier(viewTable(t))}, ${SHARDING_KEY})`;
}

export function viewDirsDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, VIEW_DIRS_TABLE)} (
  dir String,
  events UInt64,
  loaded_ms Int64
) ENGINE = MergeTree
ORDER BY dir
SETTINGS index_granularity = 8192`;
}

export function viewVersionsDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, VIEW_VERSIONS_TABLE)} (
  version String,
  manifest String,
  created_ms Int64
) ENGINE = MergeTree
ORDER BY version
SETTINGS index_granularity = 8192`;
}

export function viewPointerDdl(database: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(database, VIEW_POINTER_TABLE)} (
  seq Int64,
  version String,
  watermark Nullable(Int64),
  reason String,
  updated_ms Int64
) ENGINE = MergeTree
ORDER BY seq
SETTINGS index_granularity = 8192`;
}

/** A view folder name as the batch job writes it: `days/YYYY-MM-DD/<runId>`. */
const DIR = /^days\/\d{4}-\d{2}-\d{2}\/[A-Za-z0-9_-]{1,64}$/;

/** Checks a folder name before it goes into SQL text, and quotes it. */
export function quoteDir(dir: string): string {
  if (!DIR.test(dir)) throw new UsageError('BAD_VIEW_DIR', `"${dir}" is not a batch view folder (expected days/YYYY-MM-DD/<run id>)`);
  return quoteString(dir);
}

/** `dir IN ('…', …)` of the folders; an empty list matches nothing. */
export function dirsCondition(dirs: readonly string[]): string {
  return dirs.length ? `dir IN (${dirs.map(quoteDir).join(', ')})` : '0';
}

/**
 * The sharding key of a site's rows: ClickHouse's own cityHash64 of the site id, so the loader's
 * split (which asks the server, see shardsOfSites) and the Distributed tables' key agree; with one
 * replica of weight 1 per shard, a row goes to shard `key % shards` (0-based, remote_servers order).
 */
export const SHARDING_KEY = 'cityHash64(site_id)';

/** SQL asking the server for the 0-based shard of each site (`site`, `shard`). */
export function shardsOfSitesSql(sites: readonly string[], shards: number): string {
  if (!Number.isInteger(shards) || shards < 1) throw new UsageError('BAD_SHARDS', `${shards} is not a number of shards`);
  return `SELECT site, toUInt32(cityHash64(site) % ${shards}) AS shard FROM (SELECT arrayJoin([${sites.map(quoteString).join(', ')}]) AS site)`;
}

/** `sites` split by shard (0-based, remote_servers order), the server computing the sharding key; in slices far below its 256 KiB max_query_size. */
export async function sitesByShard(entry: ClickHouseConnection, sites: readonly string[], shards: number): Promise<string[][]> {
  const out: string[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; i < sites.length; i += 500) {
    const rows = await entry.rows<{ site: string; shard: number | string }>(shardsOfSitesSql(sites.slice(i, i + 500), shards), 'computing the shards of the sites');
    for (const r of rows) out[Number(r.shard)]!.push(r.site);
  }
  return out;
}

// ---- DuckDB side: a view file row → the CSV fields of one table row ---------------------

/** The DuckDB expression of one column of a view file. */
export function viewExportExpression(col: ViewColumn): string {
  switch (col.kind) {
    case 'text':
      return `coalesce(CAST(${col.source} AS VARCHAR), '')`;
    case 'millis':
      return `epoch_ms(CAST(${col.source} AS TIMESTAMP))`;
    case 'flag':
      return `CAST(coalesce(CAST(${col.source} AS BOOLEAN), false) AS TINYINT)`;
    case 'int64':
      return `coalesce(CAST(${col.source} AS BIGINT), 0)`;
    case 'keys':
    case 'values':
      return mapPartExpression(col.source, col.kind);
  }
}
