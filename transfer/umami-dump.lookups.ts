/**
 * What a dump's events are joined to (their sessions and event data), kept on disk instead of in
 * memory: a DuckDB database file in a scratch folder of its own, filled by appenders while the
 * dump's first pass streams by, then asked a batch of events at a time. DuckDB holds at most its
 * memory limit and evicts the rest to its file, so the process stays bounded whatever the number of
 * sessions and event data rows the dump holds; the folder goes on close.
 *
 * A row read twice (a session, or a property key of an event) keeps its last value, as a Map
 * would: each row carries its position in the dump, and when sealing finds a table with such rows
 * (a dump of tables with primary keys has none) its look-ups keep the highest. A batch's ids go
 * in through an appender (a list parameter of thousands of strings binds slowly) and the answers
 * come back as columns.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBAppender } from '@duckdb/node-api';
import { openDuckDB, type DuckDB } from '../core/duckdb.ts';
import type { UmamiEvent } from './umami.mapper.ts';

/** What an event takes from its Umami session. */
export type SessionInfo = Pick<UmamiEvent, 'hostname' | 'browser' | 'os' | 'device' | 'screen' | 'country'>;

const SESSION_FIELDS = ['hostname', 'browser', 'os', 'device', 'screen', 'country'] as const;
/**
 * DuckDB's share of the import's memory (the import's own DuckDB has 160 MB, transfer/options.ts):
 * a batch's look-ups build hash tables of 10,000 ids, everything else is scanned from the file.
 * Measured: 1.5M sessions held the process at 272 MB peak RSS (300k: the same), 64 MB gave 313 MB.
 */
const MEMORY_LIMIT = '32MB';

function appendText(ap: DuckDBAppender, v: string | null): void {
  if (v === null) ap.appendNull();
  else ap.appendVarchar(v);
}

export class DumpLookups {
  private seq = 0n;
  private props = 0;
  private sealed = false;
  /** Set by `seal()`: the last row of each id wins (only when ids repeat). */
  private sessionsLast = '';
  private propsLast = '';

  private constructor(
    readonly dir: string,
    private readonly db: DuckDB,
    private readonly sessionRows: DuckDBAppender,
    private readonly propRows: DuckDBAppender,
  ) {}

  /** A scratch folder under `workDir` with the database file and DuckDB's spill folder. */
  static async open(workDir: string): Promise<DumpLookups> {
    mkdirSync(workDir, { recursive: true });
    const dir = mkdtempSync(join(workDir, 'twinlane-umami-dump-'));
    let db: DuckDB | undefined;
    try {
      db = await openDuckDB({ memoryLimit: MEMORY_LIMIT, threads: 1, tempDir: join(dir, 'spill') }, { code: 'IMPORT_DUCKDB_OPEN_FAILED', purpose: "the dump's sessions" });
      await db.conn.run(`ATTACH '${join(dir, 'lookups.duckdb').replaceAll("'", "''")}' AS lookups`);
      await db.conn.run(`CREATE TABLE lookups.session_rows (seq UBIGINT, session_id VARCHAR, ${SESSION_FIELDS.map((f) => `${f} VARCHAR`).join(', ')})`);
      await db.conn.run('CREATE TABLE lookups.prop_rows (seq UBIGINT, event_id VARCHAR, key VARCHAR, value VARCHAR)');
      const sessions = await db.conn.createAppender('session_rows', 'main', 'lookups');
      const props = await db.conn.createAppender('prop_rows', 'main', 'lookups');
      return new DumpLookups(dir, db, sessions, props);
    } catch (err) {
      db?.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  addSession(sessionId: string, s: SessionInfo): void {
    const ap = this.sessionRows;
    ap.appendUBigInt(this.seq++);
    ap.appendVarchar(sessionId);
    for (const f of SESSION_FIELDS) appendText(ap, s[f]);
    ap.endRow();
  }

  addProperty(eventId: string, key: string, value: string): void {
    const ap = this.propRows;
    ap.appendUBigInt(this.seq++);
    ap.appendVarchar(eventId);
    ap.appendVarchar(key);
    ap.appendVarchar(value);
    ap.endRow();
    this.props++;
  }

  /** After the first pass: the rows go into their tables, the last of each session and property key kept. */
  async seal(): Promise<void> {
    if (this.sealed) return;
    this.sealed = true;
    for (const ap of [this.sessionRows, this.propRows]) {
      ap.flushSync();
      ap.closeSync();
    }
    const c = this.db.conn;
    const repeats = async (sql: string) => Boolean((await c.runAndReadAll(sql)).getRowsJS()[0]?.[0]);
    if (await repeats('SELECT count(*) > count(DISTINCT session_id) FROM lookups.session_rows')) this.sessionsLast = 'QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY seq DESC) = 1';
    if (this.props > 0 && (await repeats('SELECT count(*) > count(DISTINCT (event_id, key)) FROM lookups.prop_rows'))) this.propsLast = 'QUALIFY row_number() OVER (PARTITION BY event_id, key ORDER BY seq DESC) = 1';
    await c.run('CREATE TEMP TABLE batch_ids (id VARCHAR)');
  }

  /** The sessions of these ids (those the dump has). */
  async sessions(ids: readonly string[]): Promise<Map<string, SessionInfo>> {
    const out = new Map<string, SessionInfo>();
    if (ids.length === 0) return out;
    await this.load(ids);
    const r = await this.db.conn.runAndReadAll(`SELECT session_id, ${SESSION_FIELDS.join(', ')} FROM lookups.session_rows s SEMI JOIN batch_ids b ON s.session_id = b.id ${this.sessionsLast}`);
    // No rows, no columns.
    const [id = [], hostname = [], browser = [], os = [], device = [], screen = [], country = []] = r.getColumnsJS() as (string | null)[][];
    for (let i = 0; i < id.length; i++) out.set(id[i]!, { hostname: hostname[i]!, browser: browser[i]!, os: os[i]!, device: device[i]!, screen: screen[i]!, country: country[i]! });
    return out;
  }

  /** The properties of these events (those that have any), in the order of their last rows. */
  async properties(eventIds: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    if (eventIds.length === 0 || this.props === 0) return out;
    await this.load(eventIds);
    const r = await this.db.conn.runAndReadAll(`SELECT event_id, key, value FROM lookups.prop_rows p SEMI JOIN batch_ids b ON p.event_id = b.id ${this.propsLast} ORDER BY seq`);
    const [id = [], key = [], value = []] = r.getColumnsJS() as string[][];
    for (let i = 0; i < id.length; i++) {
      let p = out.get(id[i]!);
      if (!p) out.set(id[i]!, (p = {}));
      p[key[i]!] = value[i]!;
    }
    return out;
  }

  /** The ids of one look-up into the batch table. */
  private async load(ids: readonly string[]): Promise<void> {
    await this.db.conn.run('DELETE FROM batch_ids');
    const ap = await this.db.conn.createAppender('batch_ids');
    for (const id of ids) {
      ap.appendVarchar(id);
      ap.endRow();
    }
    ap.closeSync();
  }

  close(): void {
    if (!this.sealed) {
      this.sealed = true;
      for (const ap of [this.sessionRows, this.propRows]) {
        try {
          ap.closeSync();
        } catch {
          // closing after a failed append: the folder goes anyway
        }
      }
    }
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
