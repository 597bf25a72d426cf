/**
 * Umami's events from its live PostgreSQL database. One `COPY (SELECT …) TO STDOUT` streams the
 * website's events joined with their session and their event data (aggregated once per event) in
 * (created_at, event_id) order, in PostgreSQL's text format: the cheapest way out of PostgreSQL
 * (no per-row protocol messages, no type parsing on our side beyond splitting lines), and the
 * same format a plain-SQL dump holds. The stream is paused while the import writes, so memory
 * stays at one network buffer.
 *
 * COPY takes no bind parameters, so the few values in its text are checked first: the website
 * id is a UUID, the resume position a timestamp and a UUID as PostgreSQL printed them, the cutoff
 * a whole number; each goes in through the client's literal escaping as well.
 */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { UsageError } from '../core/errors.ts';
import { parsePgTextLine, parsePgTimestamp } from './pg-text.format.ts';
import { ImportSourceError } from './import.errors.ts';
import { umamiRecord, type UmamiEvent } from './umami.mapper.ts';
import type { ImportSource, ResumePoint, SourceRow, SourceSize } from './types.ts';
import { isUuid } from '../core/uuid.ts';

const PG_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

const ZERO = 0x30;

/** The digits of `text` from `at` to `end` as a number, or -1 when one is not a digit. */
function digits(text: string, at: number, end: number): number {
  let n = 0;
  for (let i = at; i < end; i++) {
    const d = text.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Epoch ms of the timestamps PostgreSQL prints in UTC (`2026-03-14 10:07:31.123456+00`), for
 * rows in time order: the date and hour are read once per hour, minutes, seconds and
 * milliseconds digit by digit. Any other shape goes to parsePgTimestamp, which gives the same
 * value by regular expression for a third of a microsecond a row (measured).
 */
export class UtcTimestampParser {
  private hourText = '';
  private hourMs = 0;

  parse(text: string): number | undefined {
    const n = text.length;
    // `YYYY-MM-DD HH:MM:SS+00`, or with `.` and 1–6 digits before the `+00`.
    if ((n !== 22 && (n < 24 || n > 29 || text.charCodeAt(19) !== 0x2e)) || !text.endsWith('+00') || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return parsePgTimestamp(text);
    if (!text.startsWith(this.hourText) || this.hourText === '') {
      const hour = parsePgTimestamp(`${text.slice(0, 13)}:00:00+00`);
      if (hour === undefined) return parsePgTimestamp(text);
      this.hourText = text.slice(0, 13);
      this.hourMs = hour;
    }
    const minutes = digits(text, 14, 16);
    const seconds = digits(text, 17, 19);
    const fraction = n === 22 ? 0 : digits(text, 20, Math.min(23, n - 3));
    if (minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59 || fraction < 0 || (n > 22 && digits(text, 20, n - 3) < 0)) return parsePgTimestamp(text);
    // 1 or 2 digits are tenths or hundredths of a second.
    const ms = n === 22 ? 0 : n - 23 === 1 ? fraction * 100 : n - 23 === 2 ? fraction * 10 : fraction;
    return this.hourMs + (minutes * 60 + seconds) * 1000 + ms;
  }
}

/**
 * A row's bytes for its dead letter, made only when asked. An anonymous function on purpose: tsx
 * (esbuild's keepNames) names a closure bound to a variable with a defineProperty call, which
 * was a tenth of the time spent reading a row.
 */
function rawOf(line: string): () => Buffer {
  return () => Buffer.from(line, 'utf8');
}

/** Our view of a database URL: no password in ids, logs or reports. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    throw new UsageError('BAD_DATABASE_URL', `--from must be a PostgreSQL URL such as postgres://user@127.0.0.1:5432/umami`);
  }
}

export class UmamiPostgresSource implements ImportSource {
  readonly identity: string;
  private client: pg.Client | undefined;
  private done = 0;
  private readonly times = new UtcTimestampParser();

  constructor(
    private readonly url: string,
    private readonly website: string,
    private readonly site: string,
  ) {
    if (!isUuid(website)) throw new UsageError('BAD_UMAMI_WEBSITE', `--umami-website ${JSON.stringify(website)} is not a UUID (Umami's website id)`);
    this.identity = `umami-postgres:${describeDatabase(url)}:${website.toLowerCase()}`;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ connectionString: this.url, application_name: 'twinlane-import' });
    try {
      await client.connect();
      // Times print in UTC with their offset; a big sort stays in memory instead of spilling.
      await client.query(`SET TimeZone = 'UTC'`);
      await client.query(`SET work_mem = '64MB'`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new ImportSourceError(`cannot read Umami's database ${describeDatabase(this.url)}: ${(err as Error).message}`, true, err);
    }
    return (this.client = client);
  }

  /** Columns that appeared in later Umami versions (visit_id in 2.9, website_event.hostname in 2.13). */
  private async columns(client: pg.Client): Promise<Set<string>> {
    const r = await client.query<{ c: string }>(`SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_name IN ('website_event', 'session', 'website', 'event_data') AND table_schema = current_schema()`);
    const cols = new Set(r.rows.map((x) => x.c));
    for (const need of ['website_event.event_id', 'website_event.created_at', 'website_event.session_id', 'session.session_id']) {
      if (!cols.has(need)) throw new ImportSourceError(`${describeDatabase(this.url)} has no Umami tables (missing ${need}); is it Umami's database, and its schema the search_path's first?`, false);
    }
    return cols;
  }

  async size(until: number | null): Promise<SourceSize> {
    const client = await this.connect();
    await this.columns(client);
    const r = await client.query<{ n: string; after: string }>(
      `SELECT count(*) FILTER (WHERE $2::bigint IS NULL OR created_at < TIMESTAMPTZ 'epoch' + $2::bigint * INTERVAL '1 millisecond') AS n, count(*) FILTER (WHERE created_at >= TIMESTAMPTZ 'epoch' + $2::bigint * INTERVAL '1 millisecond') AS after FROM website_event WHERE website_id = $1`,
      [this.website, until],
    );
    return { unit: 'rows', total: Number(r.rows[0]!.n), afterCutoff: Number(r.rows[0]!.after) };
  }

  progress(): number {
    return this.done;
  }

  private sql(client: pg.Client, cols: Set<string>, from: ResumePoint, until: number | null): string {
    const lit = (s: string) => client.escapeLiteral(s);
    const where = [`e.website_id = ${lit(this.website)}::uuid`];
    if (until !== null) {
      if (!Number.isSafeInteger(until)) throw new UsageError('BAD_CUTOFF', `cutoff ${until} is not whole milliseconds`);
      where.push(`e.created_at < TIMESTAMPTZ 'epoch' + ${until} * INTERVAL '1 millisecond'`);
    }
    if (from.position) {
      const [ts, id] = from.position.split('|');
      if (!ts || !id || !PG_TS.test(ts) || !isUuid(id)) throw new ImportSourceError(`resume position ${JSON.stringify(from.position)} is not one this import wrote`, false);
      where.push(`(e.created_at, e.event_id) > (${lit(ts)}::timestamptz, ${lit(id)}::uuid)`);
    }
    const visit = cols.has('website_event.visit_id') ? 'e.visit_id' : 'NULL';
    const host = [cols.has('website_event.hostname') ? 'e.hostname' : null, cols.has('session.hostname') ? 's.hostname' : null, cols.has('website.domain') ? 'w.domain' : null].filter(Boolean).join(', ');
    const value = cols.has('event_data.string_value')
      ? `coalesce(d.string_value, d.number_value::text, to_char(d.date_value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))`
      : `coalesce(d.event_string_value, d.event_numeric_value::text, to_char(d.event_date_value AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))`;
    const key = cols.has('event_data.data_key') ? 'd.data_key' : 'd.event_key';
    const props = cols.has('event_data.website_event_id')
      ? `LEFT JOIN (SELECT d.website_event_id, json_object_agg(${key}, ${value}) AS props FROM event_data d WHERE d.website_id = ${lit(this.website)}::uuid GROUP BY d.website_event_id) p ON p.website_event_id = e.event_id`
      : 'LEFT JOIN (SELECT NULL::uuid AS website_event_id, NULL::json AS props) p ON false';
    return `COPY (
      SELECT e.event_id, e.created_at, e.session_id, ${visit}, e.url_path, e.url_query, e.referrer_path, e.referrer_query, e.referrer_domain, e.page_title,
             e.event_type, e.event_name, coalesce(${host || 'NULL'}), s.browser, s.os, s.device, s.screen, s.country, p.props
      FROM website_event e
      LEFT JOIN session s ON s.session_id = e.session_id
      ${cols.has('website.domain') ? 'LEFT JOIN website w ON w.website_id = e.website_id' : ''}
      ${props}
      WHERE ${where.join(' AND ')}
      ORDER BY e.created_at, e.event_id
    ) TO STDOUT`;
  }

  async *rows(from: ResumePoint, until: number | null): AsyncIterable<SourceRow> {
    const client = await this.connect();
    const cols = await this.columns(client);
    const stream = client.query(copyTo(this.sql(client, cols, from, until)));
    let ordinal = from.rows;
    this.done = from.rows;
    let rest = '';
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const text = rest + chunk.toString('utf8');
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          const line = text.slice(start, nl);
          start = nl + 1;
          ordinal++;
          this.done = ordinal;
          yield this.row(line, ordinal);
        }
        rest = text.slice(start);
      }
    } catch (err) {
      throw new ImportSourceError(`reading Umami's events from ${describeDatabase(this.url)} failed: ${(err as Error).message}`, true, err);
    }
  }

  private row(line: string, ordinal: number): SourceRow {
    const f = parsePgTextLine(line);
    const createdAt = f[1] ? this.times.parse(f[1]) : undefined;
    const resume = { rows: ordinal, position: `${f[1]}|${f[0]}` };
    const raw = rawOf(line);
    if (f.length !== 19 || createdAt === undefined || !f[0] || !f[2]) return { row: ordinal, record: { unreadable: `an Umami row of ${f.length} fields without a readable event id, time or session` }, raw, resume };
    let properties: Record<string, string> | null = null;
    if (f[18]) {
      const parsed = JSON.parse(f[18]) as Record<string, unknown>;
      properties = {};
      for (const [k, v] of Object.entries(parsed)) if (v !== null) properties[k] = String(v);
    }
    const e: UmamiEvent = {
      eventId: f[0], createdAt, sessionId: f[2], visitId: f[3] ?? null, urlPath: f[4] ?? null, urlQuery: f[5] ?? null, referrerPath: f[6] ?? null, referrerQuery: f[7] ?? null,
      referrerDomain: f[8] ?? null, pageTitle: f[9] ?? null, eventType: Number(f[10]), eventName: f[11] ?? null, hostname: f[12] ?? null, browser: f[13] ?? null, os: f[14] ?? null,
      device: f[15] ?? null, screen: f[16] ?? null, country: f[17] ?? null, properties,
    };
    return { row: ordinal, record: umamiRecord(e, this.site), raw, resume };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
