/**
 * A CSV file of events in our importable shape: a header line naming the columns (transfer/README.md),
 * then one event per record (RFC 4180 quoting; a quoted field may hold commas, quotes as `""` and
 * line breaks). An empty field is absent; numbers, booleans and the properties' JSON are read by
 * column. A record's row number is the line it starts on (the header is line 1).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';
import { IMPORT_FIELDS } from './event-record.mapper.ts';
import { readLines } from './line.reader.ts';
import type { ImportSource, ResumePoint, SourceRow } from './types.ts';

const NUMERIC = new Set(['event_time', 'received_time', 'screen_width', 'revenue', 'revenue_micros']);
const BOOLEAN = new Set(['is_bot', 'time_adjusted']);
const KNOWN = new Set<string>(IMPORT_FIELDS);

/** The fields of one record (its lines joined); undefined when its quotes do not close. */
export function splitCsvRecord(text: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        v += text.slice(i, q);
        if (text[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      if (i === text.length) return out;
      if (text[i] !== ',') return undefined;
      i++;
    } else {
      const c = text.indexOf(',', i);
      if (c < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, c));
      i = c + 1;
    }
  }
}

/** A CSV value typed by its column: numbers and booleans as such when they read as one (else left as text for validation to name). */
function typed(column: string, v: string): unknown {
  if (NUMERIC.has(column) && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (BOOLEAN.has(column) && (v === 'true' || v === 'false')) return v === 'true';
  if (column === 'properties') {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }
  return v;
}

function quotesIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i >= 0; i = s.indexOf('"', i + 1)) n++;
  return n;
}

export class CsvSource implements ImportSource {
  readonly identity: string;
  private at = 0;
  private header: string[] | undefined;

  constructor(private readonly path: string) {
    const st = statSync(path);
    this.identity = `csv:${resolve(path)}:${st.size}:${Math.trunc(st.mtimeMs)}`;
  }

  async size(): Promise<{ unit: 'bytes'; total: number }> {
    return { unit: 'bytes', total: statSync(this.path).size };
  }

  progress(): number {
    return this.at;
  }

  /** The header's columns and where the data starts; an unknown column is a usage error (every row would fail). */
  private async readHeader(): Promise<{ columns: string[]; dataStart: number }> {
    for await (const l of readLines(this.path, 0)) {
      const columns = splitCsvRecord(l.bytes.toString('utf8').replace(/^\uFEFF/, ''))?.map((c) => c.trim());
      if (!columns || columns.length === 0 || columns[0] === '') throw new UsageError('BAD_CSV_HEADER', `${this.path}: the first line must name the columns (e.g. site_id,type,event_time,visitor_id,url)`);
      const unknown = columns.filter((c) => !KNOWN.has(c));
      if (unknown.length) throw new UsageError('BAD_CSV_HEADER', `${this.path}: unknown column(s) ${unknown.join(', ')}; the columns are those of transfer/README.md (${IMPORT_FIELDS.slice(0, 8).join(', ')}, …)`);
      return { columns, dataStart: l.next };
    }
    throw new UsageError('BAD_CSV_HEADER', `${this.path} is empty`);
  }

  async *rows(from: ResumePoint): AsyncIterable<SourceRow> {
    const { columns, dataStart } = await this.readHeader();
    this.header = columns;
    const [o, l] = from.position ? from.position.split(':').map(Number) : [dataStart, 1];
    let offset = o!;
    let line = l!;
    let rows = from.rows;
    let pending: { text: string; first: number; quotes: number; crlf: boolean } | undefined;
    this.at = offset;
    for await (const ln of readLines(this.path, offset)) {
      line++;
      offset = ln.next;
      this.at = offset;
      const text = ln.bytes.toString('utf8');
      // A line break inside quotes is part of the field, as it was written (CRLF or LF).
      pending = pending ? { text: `${pending.text}${pending.crlf ? '\r\n' : '\n'}${text}`, first: pending.first, quotes: pending.quotes + quotesIn(text), crlf: ln.crlf } : { text, first: line, quotes: quotesIn(text), crlf: ln.crlf };
      if (pending.quotes % 2 === 1) continue; // a quoted field goes on to the next line
      const rec = pending;
      pending = undefined;
      if (rec.text.trim() === '') continue;
      rows++;
      yield { row: rec.first, record: this.record(rec.text), raw: () => Buffer.from(rec.text, 'utf8'), resume: { rows, position: `${offset}:${line}` } };
    }
    if (pending && pending.text.trim() !== '') {
      rows++;
      const rec = pending;
      yield { row: rec.first, record: { unreadable: `a quoted field opened on line ${rec.first} never closes` }, raw: () => Buffer.from(rec.text, 'utf8'), resume: { rows, position: `${offset}:${line}` } };
    }
  }

  private record(text: string): SourceRow['record'] {
    const fields = splitCsvRecord(text);
    const columns = this.header!;
    if (!fields) return { unreadable: 'broken CSV quoting' };
    if (fields.length !== columns.length) return { unreadable: `${fields.length} fields where the header names ${columns.length}` };
    const out: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) if (fields[i] !== '') out[columns[i]!] = typed(columns[i]!, fields[i]!);
    return out;
  }

  async close(): Promise<void> {}
}
