/**
 * Umami's events from a plain-SQL `pg_dump` file, read as a stream (1 MiB at a time, never whole).
 * The dump holds each table's rows between `COPY <table> (<columns>) FROM stdin;` and `\.` in
 * PostgreSQL's text format (pg-text.format.ts), columns named, so any Umami v2 version reads.
 *
 * Two passes, because the events need their sessions and event data and a dump may hold the
 * tables in any order: the first puts the website's sessions (browser, OS, device, screen,
 * country, hostname) and event data (properties) into DuckDB tables on disk
 * (umami-dump.lookups.ts) and keeps its domain; the second streams the website's `website_event`
 * rows in the dump's order, their rank among them being their row number (a resume skips that
 * many), and joins them to their sessions and properties a batch at a time. Memory holds one batch
 * and DuckDB's limit, whatever the number of sessions, events and event data rows.
 */
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../core/errors.ts';
import { ImportSourceError } from './import.errors.ts';
import { readLines } from './line.reader.ts';
import { parsePgTextLine, parsePgTimestamp } from './pg-text.format.ts';
import { DumpLookups } from './umami-dump.lookups.ts';
import { umamiRecord, type UmamiEvent } from './umami.mapper.ts';
import type { ImportSource, ResumePoint, SourceRow } from './types.ts';
import { isUuid } from '../core/uuid.ts';

const COPY_LINE = /^COPY\s+(?:"?[\w$]+"?\.)?"?([\w$]+)"?\s*\(([^)]*)\)\s+FROM\s+stdin;\s*$/i;
/** Events joined to their sessions and properties at once: one look-up per table per batch. */
const JOIN_BATCH = 10_000;

export interface UmamiDumpOptions {
  /** Where the sessions and event data wait on disk during the import (default: the OS temp folder). */
  workDir?: string;
  /** Events joined at once (default 10,000). */
  batchRows?: number;
}

/** One of the website's `website_event` lines, waiting for its batch's look-ups. */
interface PendingEvent {
  ordinal: number;
  line: string;
  fields: (string | null)[];
}

/** A COPY block's column positions by name. */
type Columns = Map<string, number>;

function columnsOf(list: string): Columns {
  return new Map(list.split(',').map((c, i) => [c.trim().replace(/^"|"$/g, ''), i]));
}

export class UmamiDumpSource implements ImportSource {
  readonly identity: string;
  private readonly bytes: number;
  private at = 0;

  private lookupsOpen: DumpLookups | undefined;

  constructor(
    private readonly path: string,
    private readonly website: string,
    private readonly site: string,
    private readonly options: UmamiDumpOptions = {},
  ) {
    if (!isUuid(website)) throw new UsageError('BAD_UMAMI_WEBSITE', `--umami-website ${JSON.stringify(website)} is not a UUID (Umami's website id)`);
    const st = statSync(path);
    this.bytes = st.size;
    this.identity = `umami-dump:${resolve(path)}:${st.size}:${Math.trunc(st.mtimeMs)}:${website.toLowerCase()}`;
  }

  async size(): Promise<{ unit: 'bytes'; total: number }> {
    return { unit: 'bytes', total: 2 * this.bytes };
  }

  progress(): number {
    return this.at;
  }

  /** Every data line of the dump's COPY blocks, with its table and columns. */
  private async *blocks(pass: number): AsyncGenerator<{ table: string; columns: Columns; line: string }> {
    let table: string | undefined;
    let columns: Columns = new Map();
    for await (const l of readLines(this.path)) {
      this.at = pass * this.bytes + l.next;
      if (table === undefined) {
        if (l.bytes[0] !== 0x43 /* C */) continue;
        const m = COPY_LINE.exec(l.bytes.toString('utf8'));
        if (m) {
          table = m[1]!.toLowerCase();
          columns = columnsOf(m[2]!);
        }
        continue;
      }
      if (l.bytes.length === 2 && l.bytes[0] === 0x5c && l.bytes[1] === 0x2e) {
        table = undefined; // `\.` ends the block
        continue;
      }
      yield { table, columns, line: l.bytes.toString('utf8') };
    }
  }

  /** Pass 1: the website's sessions and event data into the look-up tables, and its domain. */
  private async lookups(): Promise<{ lookups: DumpLookups; domain: string | null; sawEvents: boolean }> {
    const lookups = await DumpLookups.open(this.options.workDir ?? tmpdir());
    this.lookupsOpen = lookups;
    let domain: string | null = null;
    let sawEvents = false;
    const site = this.website.toLowerCase();
    for await (const { table, columns, line } of this.blocks(0)) {
      const get = (f: (string | null)[], name: string): string | null => {
        const i = columns.get(name);
        return i === undefined ? null : (f[i] ?? null);
      };
      if (table === 'website_event') {
        sawEvents = true;
        continue;
      }
      if (table !== 'session' && table !== 'event_data' && table !== 'website') continue;
      const f = parsePgTextLine(line);
      if (get(f, 'website_id')?.toLowerCase() !== site) continue;
      if (table === 'website') domain = get(f, 'domain');
      else if (table === 'session') {
        const id = get(f, 'session_id');
        if (id !== null) lookups.addSession(id, { hostname: get(f, 'hostname'), browser: get(f, 'browser'), os: get(f, 'os'), device: get(f, 'device'), screen: get(f, 'screen'), country: get(f, 'country') });
      } else {
        const event = get(f, 'website_event_id');
        const key = get(f, 'data_key') ?? get(f, 'event_key');
        if (!event || !key) continue;
        let value = get(f, 'string_value') ?? get(f, 'event_string_value') ?? get(f, 'number_value') ?? get(f, 'event_numeric_value');
        if (value === null) {
          const date = get(f, 'date_value') ?? get(f, 'event_date_value');
          const t = date ? parsePgTimestamp(date) : undefined;
          value = t === undefined ? null : new Date(t).toISOString().replace('.000Z', 'Z');
        }
        if (value !== null) lookups.addProperty(event, key, value);
      }
    }
    await lookups.seal();
    return { lookups, domain, sawEvents };
  }

  async *rows(from: ResumePoint): AsyncIterable<SourceRow> {
    try {
      const { lookups, domain, sawEvents } = await this.lookups();
      if (!sawEvents) throw new ImportSourceError(`${this.path} holds no COPY block of website_event: is it a plain-SQL pg_dump (not -Fc) of Umami's database?`, false);
      const site = this.website.toLowerCase();
      const batchRows = this.options.batchRows ?? JOIN_BATCH;
      let ordinal = 0;
      let batch: PendingEvent[] = [];
      let columns: Map<string, number> = new Map();
      for await (const block of this.blocks(1)) {
        if (block.table !== 'website_event') continue;
        // A new block's columns: the batch read under the old ones goes first.
        if (block.columns !== columns) {
          if (batch.length) yield* this.joined(batch, columns, lookups, domain);
          batch = [];
          columns = block.columns;
        }
        const fields = parsePgTextLine(block.line);
        const i = columns.get('website_id');
        if (i === undefined || fields[i]?.toLowerCase() !== site) continue;
        ordinal++;
        if (ordinal <= from.rows) continue;
        batch.push({ ordinal, line: block.line, fields });
        if (batch.length >= batchRows) {
          yield* this.joined(batch, columns, lookups, domain);
          batch = [];
        }
      }
      if (batch.length) yield* this.joined(batch, columns, lookups, domain);
    } finally {
      this.closeLookups();
    }
  }

  /** A batch of events, with their sessions and properties looked up at once, in the dump's order. */
  private async *joined(batch: PendingEvent[], columns: Map<string, number>, lookups: DumpLookups, domain: string | null): AsyncGenerator<SourceRow> {
    const at = (f: (string | null)[], name: string): string | null => {
      const i = columns.get(name);
      return i === undefined ? null : (f[i] ?? null);
    };
    const sessionIds = new Set<string>();
    const eventIds = new Set<string>();
    for (const e of batch) {
      const s = at(e.fields, 'session_id');
      const id = at(e.fields, 'event_id');
      if (s) sessionIds.add(s);
      if (id) eventIds.add(id);
    }
    const sessions = await lookups.sessions([...sessionIds]);
    const props = await lookups.properties([...eventIds]);
    for (const { ordinal, line, fields } of batch) {
      const get = (name: string) => at(fields, name);
      const raw = () => Buffer.from(line, 'utf8');
      const createdAt = get('created_at');
      const t = createdAt ? parsePgTimestamp(createdAt) : undefined;
      const eventId = get('event_id');
      const sessionId = get('session_id');
      if (t === undefined || !eventId || !sessionId) {
        yield { row: ordinal, record: { unreadable: 'an Umami website_event row without a readable event_id, created_at or session_id' }, raw, resume: { rows: ordinal } };
        continue;
      }
      const s = sessions.get(sessionId);
      const e: UmamiEvent = {
        eventId, createdAt: t, sessionId, visitId: get('visit_id'), urlPath: get('url_path'), urlQuery: get('url_query'), referrerPath: get('referrer_path'),
        referrerQuery: get('referrer_query'), referrerDomain: get('referrer_domain'), pageTitle: get('page_title'), eventType: Number(get('event_type') ?? 1),
        eventName: get('event_name'), hostname: get('hostname') ?? s?.hostname ?? domain, browser: s?.browser ?? null, os: s?.os ?? null, device: s?.device ?? null,
        screen: s?.screen ?? null, country: s?.country ?? null, properties: props.get(eventId) ?? null,
      };
      yield { row: ordinal, record: umamiRecord(e, this.site), raw, resume: { rows: ordinal } };
    }
  }

  private closeLookups(): void {
    this.lookupsOpen?.close();
    this.lookupsOpen = undefined;
  }

  async close(): Promise<void> {
    this.closeLookups();
  }
}
