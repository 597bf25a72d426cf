/**
 * One day of the lake → CSV parts for ClickHouse, by DuckDB: the day's rows (event time in the
 * day, UTC), one per event id, in warehouse columns (warehouse.schema.ts). DuckDB writes the CSV
 * itself, one part per lake hour folder, so no row passes through JavaScript; each part becomes
 * an HTTP insert stream as soon as it is written.
 *
 * Dedupe follows the batch job's rule (batch/README.md): of the rows sharing an event id, the
 * earliest received_time wins, then event_time, site, session, file and row, so a re-run keeps
 * the same row. Only rows whose 64-bit id hash occurs twice can be duplicates; they are found by
 * sorting the hashes, and only they are deduplicated by the real id.
 *
 * CSV dialect, read the same by ClickHouse 18.16 and current releases: comma, `"` quoting with
 * `""` inside, every text field quoted (so a bare `\N` is always NULL and a text "\N" stays
 * text), times as epoch seconds, arrays as `['a','b']` with `\` and `'` escaped inside.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LIST, VARCHAR, listValue, timestampValue, type DuckDBValue } from '@duckdb/node-api';
import { errorMessage } from '../core/errors.ts';
import { ERASED_MACRO } from '../core/erasure.list.ts';
import { num, type DuckDB } from '../core/duckdb.ts';
import { REQUIRED_LAKE_COLUMNS, WAREHOUSE_COLUMNS, exportExpression, quotedExportColumns } from './warehouse.schema.ts';
import { validDay } from './sql.quote.ts';
import { WarehouseError } from './warehouse.errors.ts';

const DAY_MS = 86_400_000;
const SCAN = 'read_parquet($files, union_by_name = true, hive_partitioning = false)';
/** Rows of erased visitors are never exported (the loader defines the macro on its connection, core/erasure.list.ts). */
const IN_DAY = `CAST(event_time AS TIMESTAMP) >= $start AND CAST(event_time AS TIMESTAMP) < $end AND NOT ${ERASED_MACRO}(CAST(site_id AS VARCHAR), CAST(visitor_id AS VARCHAR))`;
const ID_HASH = 'hash(CAST(event_id AS VARCHAR))';

export interface DayExport {
  /** Rows written (one per event id). */
  rows: number;
  /** Rows of the day's files with an event id seen before (dropped). */
  duplicates: number;
  /** CSV files, each one insert stream. */
  parts: string[];
}

/** The CSV dialect of the header comment. */
const CSV_OPTIONS = `FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR '\\N', FORCE_QUOTE (${quotedExportColumns().join(', ')})`;

function sqlText(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Lake columns present in the files (union over all of them). */
async function lakeColumnsOf(db: DuckDB, files: string[]): Promise<Set<string>> {
  const r = await db.conn.runAndReadAll(`SELECT * FROM ${SCAN} LIMIT 0`, { files: listValue(files) });
  return new Set(r.columnNames());
}

function projection(lakeColumns: ReadonlySet<string>): string {
  return WAREHOUSE_COLUMNS.map((c) => `${exportExpression(c, lakeColumns)} AS ${c.name}`).join(',\n  ');
}

/** The lake files grouped by their `hour=HH` folder (a file outside one is a group of its own). */
function byHourFolder(files: readonly string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const key = /\/hour=\d{2}\//.exec(f)?.[0] ?? f;
    const g = groups.get(key);
    if (g) g.push(f);
    else groups.set(key, [f]);
  }
  return [...groups.values()];
}

/**
 * Writes the day's deduplicated events from `files` as CSV parts into `outDir` (created here),
 * one hour folder at a time, and hands each finished part to `onPart`, so the inserts of the first
 * hours run while the later ones are exported (on two cores this overlap is most of the gain).
 * Rows whose id hash occurs more than once (normally none) are deduplicated over the whole day,
 * in a part of their own at the end. `sites`: only these sites' rows (a shard's share), chosen
 * after the dedupe, which spans every site.
 */
export async function exportDay(db: DuckDB, day: string, files: readonly string[], outDir: string, onPart: (part: string) => void = () => {}, sites?: readonly string[]): Promise<DayExport> {
  if (files.length === 0) return { rows: 0, duplicates: 0, parts: [] };
  const start = Date.parse(`${validDay(day)}T00:00:00Z`);
  const params: Record<string, DuckDBValue> = { files: listValue([...files]), start: timestampValue(BigInt(start) * 1000n), end: timestampValue(BigInt(start + DAY_MS) * 1000n) };
  // A shard's share of the day: its sites' rows, chosen after the dedupe (which spans every site).
  const ofSites = sites ? ` AND list_contains($sites, CAST(site_id AS VARCHAR))` : '';
  const siteParams: Record<string, DuckDBValue> = sites ? { sites: listValue([...sites]) } : {};
  const types = sites ? { sites: LIST(VARCHAR) } : undefined;
  try {
    const lake = await lakeColumnsOf(db, [...files]);
    const missing = REQUIRED_LAKE_COLUMNS.filter((c) => !lake.has(c));
    if (missing.length) throw new WarehouseError('WAREHOUSE_LAKE_COLUMNS', `the lake files of ${day} lack the column(s) ${missing.join(', ')} (first file: ${files[0]})`);
    await db.conn.run(
      `CREATE OR REPLACE TEMP TABLE wh_dup AS SELECT DISTINCT h FROM (SELECT h, lag(h) OVER (ORDER BY h) AS prev FROM (SELECT ${ID_HASH} AS h FROM ${SCAN} WHERE ${IN_DAY})) WHERE h = prev`,
      params,
    );
    const repeated = num((await db.conn.runAndReadAll('SELECT count(*) AS n FROM wh_dup')).getRowObjectsJS()[0]!.n);
    const cols = projection(lake);
    mkdirSync(outDir, { recursive: true });
    const parts: string[] = [];
    let rows = 0;
    const copy = async (sql: string, p: Record<string, DuckDBValue>, name: string): Promise<void> => {
      const file = join(outDir, name);
      const done = await db.conn.runAndReadAll(`COPY (${sql}) TO ${sqlText(file)} (${CSV_OPTIONS})`, { ...p, ...siteParams }, types);
      const n = num(done.getRowObjectsJS()[0]?.Count);
      rows += n;
      if (n > 0) {
        parts.push(file);
        onPart(file);
      }
    };
    const groups = byHourFolder(files);
    for (const [i, group] of groups.entries()) {
      await copy(`SELECT ${cols} FROM ${SCAN} WHERE ${IN_DAY}${ofSites}${repeated ? ` AND ${ID_HASH} NOT IN (SELECT h FROM wh_dup)` : ''}`, { ...params, files: listValue(group) }, `part-${String(i).padStart(3, '0')}.csv`);
    }
    if (repeated) {
      const order = ['CAST(event_id AS VARCHAR)', 'CAST(received_time AS TIMESTAMP)', 'CAST(event_time AS TIMESTAMP)', 'CAST(site_id AS VARCHAR)', 'CAST(session_id AS VARCHAR)', 'file', 'file_row'].join(', ');
      const deduped = `SELECT ${cols} FROM (
        SELECT DISTINCT ON (CAST(event_id AS VARCHAR)) * FROM (
          SELECT *, filename AS file, file_row_number AS file_row FROM read_parquet($files, union_by_name = true, hive_partitioning = false, file_row_number = true)
          WHERE ${IN_DAY} AND ${ID_HASH} IN (SELECT h FROM wh_dup))
        ORDER BY ${order}) WHERE true${ofSites}`;
      await copy(deduped, params, 'part-repeated.csv');
    }
    // Without a repeated hash there is no duplicate; only then is the day's row count needed.
    const inDay = repeated ? num((await db.conn.runAndReadAll(`SELECT count(*) AS n FROM ${SCAN} WHERE ${IN_DAY}${ofSites}`, { ...params, ...siteParams }, types)).getRowObjectsJS()[0]!.n) : rows;
    await db.conn.run('DROP TABLE wh_dup');
    return { rows, duplicates: inDay - rows, parts };
  } catch (err) {
    if (err instanceof WarehouseError) throw err;
    throw new WarehouseError('WAREHOUSE_EXPORT_FAILED', `could not read ${day} from the lake: ${errorMessage(err)}`, { cause: err });
  }
}

/** The sites with rows in the day (to split the day over shards). */
export async function daySites(db: DuckDB, day: string, files: readonly string[]): Promise<string[]> {
  if (files.length === 0) return [];
  const start = Date.parse(`${validDay(day)}T00:00:00Z`);
  try {
    const r = await db.conn.runAndReadAll(`SELECT DISTINCT CAST(site_id AS VARCHAR) AS s FROM ${SCAN} WHERE ${IN_DAY} ORDER BY s`, {
      files: listValue([...files]),
      start: timestampValue(BigInt(start) * 1000n),
      end: timestampValue(BigInt(start + DAY_MS) * 1000n),
    });
    return r.getRowObjectsJS().map((row) => String(row.s));
  } catch (err) {
    throw new WarehouseError('WAREHOUSE_EXPORT_FAILED', `could not read the sites of ${day} from the lake: ${errorMessage(err)}`, { cause: err });
  }
}
