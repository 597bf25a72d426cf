/** Output of `twinlane sql`: an aligned table for people, CSV (RFC 4180) or JSON for programs. */
import type { SqlResult } from './sql.query.ts';

export const SQL_FORMATS = ['table', 'csv', 'json'] as const;
export type SqlFormat = (typeof SQL_FORMATS)[number];

/** Widest cell of the table format; longer values end in `…` (CSV and JSON keep them whole). */
const MAX_CELL = 80;

function text(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function cell(v: unknown): string {
  const s = text(v).replace(/[\r\n\t]/g, ' ');
  return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
}

const NUMERIC = /^(U?Int\d+|Float\d+|Decimal.*|Nullable\((U?Int\d+|Float\d+|Decimal.*)\))$/;

export function formatTable(r: SqlResult): string {
  const header = r.columns.map((c) => c.name);
  const body = r.rows.map((row) => row.map(cell));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const right = r.columns.map((c) => NUMERIC.test(c.type));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = text(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function formatCsv(r: SqlResult): string {
  return [r.columns.map((c) => csvField(c.name)), ...r.rows.map((row) => row.map(csvField))].map((cells) => cells.join(',')).join('\n');
}

/** A JSON array with one row object per line. */
export function formatJson(r: SqlResult): string {
  if (r.rows.length === 0) return '[]';
  const names = r.columns.map((c) => c.name);
  const lines = r.rows.map((row) => JSON.stringify(Object.fromEntries(names.map((n, i) => [n, row[i] ?? null]))));
  return `[\n${lines.join(',\n')}\n]`;
}

export function formatResult(r: SqlResult, format: SqlFormat): string {
  if (format === 'csv') return formatCsv(r);
  if (format === 'json') return formatJson(r);
  return formatTable(r);
}

/** The line for stderr after a result: row count, time, and whether the row limit cut it. */
export function resultSummary(r: SqlResult, maxRows: number): string {
  const rows = `${r.rows.length} row${r.rows.length === 1 ? '' : 's'} in ${(r.elapsedMs / 1000).toFixed(2)} s`;
  return r.truncated ? `${rows} (stopped at --max-rows ${maxRows}: add a LIMIT or raise --max-rows)` : rows;
}
