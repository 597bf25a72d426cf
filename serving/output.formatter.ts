/**
 * JSON, CSV and Apache Arrow IPC (stream format, for pandas/polars/DuckDB) renderings of a
 * stats result. Columns: the dimension (or `time`), one per metric, and for series the
 * provenance of each bucket (source, exact, status).
 */
import { Bool, Float64, Table, TimestampMillisecond, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { ApiError } from './api.errors.ts';
import type { StatsResult } from './stats.service.ts';

export type OutputFormat = 'json' | 'csv' | 'arrow';

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  arrow: 'application/vnd.apache.arrow.stream',
};

/** `?format=` wins; otherwise the Accept header; JSON by default. */
export function chooseFormat(format: string | undefined, accept: string | undefined): OutputFormat {
  if (format !== undefined && format !== '') {
    if (format === 'json' || format === 'csv' || format === 'arrow') return format;
    throw new ApiError('BAD_REQUEST', `format=${JSON.stringify(format.slice(0, 20))} is not valid: expected json, csv or arrow`);
  }
  if (accept?.includes('application/vnd.apache.arrow')) return 'arrow';
  if (accept?.includes('text/csv')) return 'csv';
  return 'json';
}

interface Columns {
  names: string[];
  rows: (string | number | boolean | null)[][];
  isTime: boolean;
}

function columns(r: StatsResult): Columns {
  const series = r.query.kind === 'series';
  const dims = series ? ['time'] : r.query.dimensions;
  const names = [...dims, ...r.query.metrics, ...(series ? ['source', 'exact', 'status'] : [])];
  const rows = r.results.map((row) => [...row.dimensions, ...row.metrics, ...(series ? [row.source ?? null, row.exact ?? null, row.status ?? null] : [])]);
  return { names, rows, isTime: series };
}

/** Quotes when needed, and defuses cells a spreadsheet would run as a formula. */
function csvCell(v: string | number | boolean | null): string {
  if (v === null) return '';
  if (typeof v !== 'string') return String(v);
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(r: StatsResult): string {
  const { names, rows } = columns(r);
  return [names.join(','), ...rows.map((row) => row.map(csvCell).join(','))].join('\n') + '\n';
}

export function toArrow(r: StatsResult): Uint8Array {
  const { names, rows, isTime } = columns(r);
  const cols: Record<string, Vector> = {};
  const dimCount = isTime ? 1 : r.query.dimensions.length;
  names.forEach((name, i) => {
    const values = rows.map((row) => row[i] ?? null);
    if (isTime && i === 0) cols[name] = vectorFromArray(values.map((v) => Date.parse(v as string)), new TimestampMillisecond());
    else if (i < dimCount || name === 'source' || name === 'status') cols[name] = vectorFromArray(values as (string | null)[], new Utf8());
    else if (name === 'exact') cols[name] = vectorFromArray(values as (boolean | null)[], new Bool());
    else cols[name] = vectorFromArray(values as (number | null)[], new Float64());
  });
  return tableToIPC(new Table(cols), 'stream');
}
