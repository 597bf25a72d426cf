/**
 * Raw events of a site and range out of the lake, as Parquet, CSV or NDJSON: DuckDB reads the
 * range's day files and writes the file itself (it streams: memory stays at its limit whatever
 * the range). One row per event id (the batch job's rule: earliest received time wins), erased
 * visitors never (`tl_erased`, core/erasure.list.ts), ordered by event time. The columns are the
 * importable event shape (transfer/README.md), so `twinlane import events` takes the file back:
 * times in CSV and NDJSON as ISO-8601 UTC, properties as a JSON object; `ip_hash` stays in the
 * lake, as in the warehouse.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { listValue, timestampValue } from '@duckdb/node-api';
import { num, openDuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import { ERASED_MACRO, type ErasureList } from '../core/erasure.list.ts';
import { UsageError } from '../core/errors.ts';
import { formatDay, LAKE_COLUMNS, lakeDay, lakePaths } from '../batch/index.ts';
import { ExportError } from './import.errors.ts';
import type { ExportFormat } from './types.ts';

export interface EventsExportRequest {
  site: string;
  /** Epoch ms, `to` excluded. */
  from: number;
  to: number;
  format: ExportFormat;
  /** The file to write (a temporary one when serving it over HTTP). */
  out: string;
}

export interface EventsExportDeps {
  dataDir: string;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  erasures: ErasureList;
}

const EXPORTED = LAKE_COLUMNS.map(([n]) => n).filter((n) => n !== 'ip_hash');
const TIMES = new Set(['event_time', 'received_time']);

function column(name: string, format: ExportFormat): string {
  if (format === 'parquet') return name;
  if (TIMES.has(name)) return `strftime(${name}, '%Y-%m-%dT%H:%M:%S.%gZ') AS ${name}`;
  if (name === 'properties') return format === 'csv' ? `CASE WHEN cardinality(properties) > 0 THEN CAST(to_json(properties) AS VARCHAR) END AS properties` : `to_json(properties) AS properties`;
  return name;
}

const FORMAT_OPTIONS: Record<ExportFormat, string> = {
  parquet: 'FORMAT parquet, COMPRESSION zstd',
  csv: 'FORMAT csv, HEADER true',
  ndjson: 'FORMAT json',
};

export async function exportEvents(deps: EventsExportDeps, req: EventsExportRequest): Promise<{ rows: number; files: number }> {
  if (!(req.to > req.from)) throw new UsageError('BAD_RANGE', '--to must be after --from');
  const files: string[] = [];
  for (let t = Math.floor(req.from / 86_400_000) * 86_400_000; t < req.to; t += 86_400_000) files.push(...lakeDay(deps.dataDir, formatDay(t)).files);
  const tempDir = join(lakePaths(deps.dataDir).root, '_duckdb_tmp');
  mkdirSync(tempDir, { recursive: true });
  const db = await openDuckDB({ ...deps.duckdb, tempDir });
  try {
    deps.erasures.refresh(true);
    await db.conn.run(deps.erasures.macroSql());
    const select = EXPORTED.map((n) => column(n, req.format)).join(', ');
    // An empty range still makes a file with the columns (a typed relation without rows).
    const source = files.length
      ? `(SELECT ${LAKE_COLUMNS.map(([n, t]) => `CAST(${n} AS ${t}) AS ${n}`).join(', ')} FROM read_parquet($files, union_by_name = true, hive_partitioning = false))`
      : `(SELECT ${LAKE_COLUMNS.map(([n, t]) => `CAST(NULL AS ${t}) AS ${n}`).join(', ')} WHERE false)`;
    const sql = `COPY (
      SELECT ${select} FROM ${source}
      WHERE site_id = $site AND event_time >= $from AND event_time < $to AND NOT ${ERASED_MACRO}(site_id, visitor_id)
      QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_time, event_time) = 1
      ORDER BY event_time, event_id
    ) TO $out (${FORMAT_OPTIONS[req.format]})`;
    const params = { site: req.site, from: timestampValue(BigInt(req.from) * 1000n), to: timestampValue(BigInt(req.to) * 1000n), out: req.out, ...(files.length ? { files: listValue(files) } : {}) };
    const r = await db.conn.runAndReadAll(sql, params);
    // COPY answers with the number of rows it wrote.
    const rows = num(r.getRowObjectsJS()[0]?.Count ?? r.getRowObjectsJS()[0]?.count);
    if (!existsSync(req.out)) throw new ExportError('EXPORT_FAILED', `DuckDB wrote no file at ${req.out}`, false);
    return { rows, files: files.length };
  } catch (err) {
    if (err instanceof ExportError || err instanceof UsageError) throw err;
    throw new ExportError('EXPORT_FAILED', `exporting events of ${req.site} failed: ${(err as Error).message}`, true, err);
  } finally {
    db.close();
  }
}
