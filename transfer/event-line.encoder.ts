/**
 * Imported events as spool lines: the bytes `SpoolLineEncoder.appendEvent` (batch/) writes for
 * an event object, in the archiver's CSV dialect that `LakeWriter` reads back, but without a JS
 * string per field and a join per line. ASCII text goes byte by byte into the buffer; a value
 * that needs quoting or holds other characters takes the general path (the same rules:
 * batch/spool-line.encoder.ts). event-line.encoder.test.ts holds the two to the same bytes.
 *
 * Measured on the import bench's events: 2.0–2.2 µs a line with appendEvent, 0.9–1.1 µs here
 * (each field read by its name: a loop over the column names read them as slowly as the rest).
 */
import { LAKE_COLUMNS, writeDecimal } from '../batch/index.ts';
import { TwinlaneError } from '../core/errors.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';

const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NEEDS_QUOTES = /[",\n\r]/;
/** Character codes a bare field cannot copy as they are: CSV syntax and anything beyond ASCII. */
const SPECIAL = new Uint8Array(0x10000).fill(1, 0x80);
for (const c of [QUOTE, COMMA, NEWLINE, RETURN]) SPECIAL[c] = 1;

function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** The lake's columns in the order append() writes them (checked against LAKE_COLUMNS when an encoder is made). */
const ORDER = [
  'event_id', 'site_id', 'type', 'name', 'event_time', 'received_time', 'visitor_id', 'session_id', 'url', 'path', 'hostname', 'referrer', 'referrer_host', 'title',
  'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'country', 'device_type', 'browser', 'os', 'is_bot', 'ip_hash', 'time_adjusted', 'properties',
  'revenue_micros', 'currency', 'screen_width',
] as const satisfies readonly (keyof TwinlaneEvent)[];

export class EventLineEncoder {
  private out: Buffer;
  private at = 0;
  private longest = 0;

  constructor(initialBytes = 1 << 14) {
    const lake = LAKE_COLUMNS.map(([n]) => n).join(',');
    // A programmer's error (the lake got a column this encoder lacks): never retried.
    if (ORDER.join(',') !== lake) throw new TwinlaneError('SPOOL_COLUMNS_DRIFT', `EventLineEncoder writes ${ORDER.join(',')} but the lake's columns are ${lake}`);
    this.out = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written since the last reset(), as one view (valid until the next call). */
  bytes(): Buffer {
    return this.out.subarray(0, this.at);
  }

  /** Bytes of the longest line written since the last reset(), newline included (DuckDB must be told). */
  get longestLine(): number {
    return this.longest;
  }

  get length(): number {
    return this.at;
  }

  reset(): void {
    this.at = 0;
    this.longest = 0;
  }

  append(e: TwinlaneEvent): void {
    const start = this.at;
    this.text(e.event_id, false);
    this.text(e.site_id, true);
    this.text(e.type, true);
    this.text(e.name, true);
    this.number(e.event_time, true);
    this.number(e.received_time, true);
    this.text(e.visitor_id, true);
    this.text(e.session_id, true);
    this.text(e.url, true);
    this.text(e.path, true);
    this.text(e.hostname, true);
    this.text(e.referrer, true);
    this.text(e.referrer_host, true);
    this.text(e.title, true);
    this.text(e.utm_source, true);
    this.text(e.utm_medium, true);
    this.text(e.utm_campaign, true);
    this.text(e.utm_term, true);
    this.text(e.utm_content, true);
    this.text(e.country, true);
    this.text(e.device_type, true);
    this.text(e.browser, true);
    this.text(e.os, true);
    this.flag(e.is_bot);
    this.text(e.ip_hash, true);
    this.flag(e.time_adjusted);
    this.map(e.properties);
    this.number(e.revenue_micros, true);
    this.text(e.currency, true);
    this.number(e.screen_width, true);
    this.reserve(1);
    this.out[this.at++] = NEWLINE;
    if (this.at - start > this.longest) this.longest = this.at - start;
  }

  /** A string field: bare unless it is empty or holds a quote, comma or line break; NULL is the empty field. */
  private text(s: string | null | undefined, comma: boolean): void {
    const n = s == null ? 0 : s.length;
    this.reserve(n + 1);
    const out = this.out;
    let at = this.at;
    if (comma) out[at++] = COMMA;
    this.at = at;
    if (s == null) return;
    if (n === 0) return this.general('""');
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (SPECIAL[c] === 1) return this.general(NEEDS_QUOTES.test(s) ? quoted(s) : s);
      out[at + i] = c;
    }
    this.at = at + n;
  }

  private number(n: number | null | undefined, comma: boolean): void {
    this.reserve(17);
    if (comma) this.out[this.at++] = COMMA;
    if (n == null) return;
    if (!Number.isSafeInteger(n) || n < 0) return this.general(String(n));
    if (n === 0) {
      this.out[this.at++] = 0x30;
      return;
    }
    this.at = writeDecimal(this.out, this.at, n);
  }

  private flag(b: boolean | null | undefined): void {
    this.reserve(6);
    this.out[this.at++] = COMMA;
    if (b == null) return;
    const bytes = b ? TRUE : FALSE;
    this.out.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** A map is its JSON, quoted; an empty one is NULL. */
  private map(m: Record<string, string> | null | undefined): void {
    this.reserve(1);
    this.out[this.at++] = COMMA;
    if (m == null) return;
    for (const _ in m) return this.general(quoted(JSON.stringify(m)));
  }

  /** Any text as UTF-8 (a UTF-16 unit takes at most 3 bytes). */
  private general(text: string): void {
    this.reserve(3 * text.length);
    this.at += this.out.write(text, this.at, 'utf8');
  }

  private reserve(n: number): void {
    if (this.at + n <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.out.length, this.at + n));
    this.out.copy(grown, 0, 0, this.at);
    this.out = grown;
  }
}
