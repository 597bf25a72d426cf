/**
 * One day of the lake → CSV parts for ClickHouse, by DuckDB: the day's rows (event time in the
 * day, UTC), one per event id, in warehouse columns (warehouse.schema.ts). DuckDB writes the CSV
 * itself, one part per thread (PER_THREAD_OUTPUT), so no row passes through JavaScript; the
 * parts become one HTTP insert stream each.
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
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listValue, timestampValue } from '@duckdb/node-api';
import { errorMessage } from '../core/errors.ts';
import { num, type DuckDB } from '../core/duckdb.ts';
import { REQUIRED_LAKE_COLUMNS, WAREHOUSE_COLUMNS, exportExpression, quotedExportColumns } from './warehouse.schema.ts';
import { validDay } from './sql.quote.ts';
import { WarehouseError } from './warehouse.errors.ts';

const DAY_MS = 86_400_000;
const SCAN = 'read_parquet($files, union_by_name = true, hive_partitioning = false)';
const IN_DAY = 'CAST(event_time AS TIMESTAMP) >= $start AND CAST(event_time AS TIMESTAMP) < $end';
const ID_HASH = 'hash(CAST(event_id AS VARCHAR))';

export interface DayExport {
  /** Rows written (one per event id). */
  rows: number;
  /** Rows of the day's files with an event id seen before (dropped). */
  duplicates: number;
  /** CSV files, each one insert stream. */
  parts: string[];
}

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

/**
 * Writes the day's deduplicated events from `files` as CSV parts into `outDir` (which must not
 * exist yet; DuckDB creates it).
 */
export async function exportDay(db: DuckDB, day: string, files: readonly string[], outDir: string): Promise<DayExport> {
  if (files.length === 0) return { rows: 0, duplicates: 0, parts: [] };
  const start = Date.parse(`${validDay(day)}T00:00:00Z`);
  const params = { files: listValue([...files]), start: timestampValue(BigInt(start) * 1000n), end: timestampValue(BigInt(start + DAY_MS) * 1000n) };
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
    const unique = `SELECT ${cols} FROM ${SCAN} WHERE ${IN_DAY}${repeated ? ` AND ${ID_HASH} NOT IN (SELECT h FROM wh_dup)` : ''}`;
    const order = ['CAST(event_id AS VARCHAR)', 'CAST(received_time AS TIMESTAMP)', 'CAST(event_time AS TIMESTAMP)', 'CAST(site_id AS VARCHAR)', 'CAST(session_id AS VARCHAR)', 'file', 'file_row'].join(', ');
    const deduped = `SELECT ${cols} FROM (
      SELECT DISTINCT ON (CAST(event_id AS VARCHAR)) * FROM (
        SELECT *, filename AS file, file_row_number AS file_row FROM read_parquet($files, union_by_name = true, hive_partitioning = false, file_row_number = true)
        WHERE ${IN_DAY} AND ${ID_HASH} IN (SELECT h FROM wh_dup))
      ORDER BY ${order})`;
    const sql = repeated ? `${unique}\nUNION ALL\n${deduped}` : unique;
    const copy = await db.conn.runAndReadAll(
      `COPY (${sql}) TO ${sqlText(outDir)} (FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR '\\N', FORCE_QUOTE (${quotedExportColumns().join(', ')}), PER_THREAD_OUTPUT true)`,
      params,
    );
    const rows = num(copy.getRowObjectsJS()[0]?.Count);
    // Without a repeated hash there is no duplicate; only then is the day's row count needed.
    const inDay = repeated ? num((await db.conn.runAndReadAll(`SELECT count(*) AS n FROM ${SCAN} WHERE ${IN_DAY}`, params)).getRowObjectsJS()[0]!.n) : rows;
    await db.conn.run('DROP TABLE wh_dup');
    const parts = readdirSync(outDir)
      .filter((f) => f.endsWith('.csv'))
      .map((f) => join(outDir, f))
      .filter((f) => statSync(f).size > 0)
      .sort();
    return { rows, duplicates: inDay - rows, parts };
  } catch (err) {
    if (err instanceof WarehouseError) throw err;
    throw new WarehouseError('WAREHOUSE_EXPORT_FAILED', `could not read ${day} from the lake: ${errorMessage(err)}`, { cause: err });
  }
}
