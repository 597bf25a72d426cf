/**
 * The durable, queryable dead-letter store: immutable Parquet files under DATA_DIR/dlq, read
 * and written through an in-memory DuckDB.
 *
 * Why Parquet files and not one DuckDB database file: a DuckDB file admits one writing
 * process, while the archiver (always running), `dlq replay` and `dlq list` (operators) and
 * tests all touch the store at once. Immutable files written with write → fsync → rename
 * never conflict; readers only ever see whole files. The status of a dead letter is an
 * append-only log of attempts (its own Parquet files); the current status is the attempt
 * with the most attempts. Duplicates (a redelivered DLQ batch, a writer retry, and the second
 * consumer that failed on the same source record) share the dead-letter id and are collapsed
 * at read time, so writing twice is harmless; the letter lists every component that reported it.
 *
 *   letters/dt=YYYY-MM-DD/<dlq-partition>-<first>-<last>.parquet   (by first-seen day, UTC)
 *   attempts/<time>-<run>.parquet
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listValue, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { renameDurable } from '../core/durable-fs.ts';
import { openSmallDuckDB, type DuckDB } from '../core/duckdb.ts';
import { DependencyError } from '../core/errors.ts';
import type { ArchivedDeadLetter, AttemptRecord, LetterFilter, LetterStats, StoredDeadLetter } from './types.ts';

const LETTER_COLUMNS = `id VARCHAR, stage VARCHAR, code VARCHAR, message VARCHAR, field VARCHAR, site_id VARCHAR,
  first_seen BIGINT, attempts INTEGER, source_topic VARCHAR, source_partition INTEGER, source_offset VARCHAR,
  payload_format VARCHAR, payload BLOB, dlq_partition INTEGER, dlq_offset BIGINT, archived_at BIGINT, reporter VARCHAR, redacted VARCHAR`;
const ATTEMPT_COLUMNS = `id VARCHAR, status VARCHAR, attempts INTEGER, code VARCHAR, message VARCHAR, field VARCHAR, attempted_at BIGINT, run_id VARCHAR`;

/** A typed relation without rows, for a store that has no files yet. */
const emptyRelation = (columns: string) =>
  `SELECT ${columns.split(',').map((c) => { const [name, type] = c.trim().split(/\s+/); return `NULL::${type} AS ${name}`; }).join(', ')} WHERE false`;
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export class DeadLetterStore {
  private db: DuckDB | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  readonly lettersDir: string;
  readonly attemptsDir: string;

  constructor(readonly dir: string) {
    this.lettersDir = join(dir, 'letters');
    this.attemptsDir = join(dir, 'attempts');
  }

  async open(): Promise<void> {
    if (this.db) return;
    mkdirSync(this.lettersDir, { recursive: true });
    mkdirSync(this.attemptsDir, { recursive: true });
    this.db = await openSmallDuckDB(1, { code: 'DLQ_STORE_OPEN_FAILED', purpose: 'the dead-letter store' });
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  /** One statement at a time on the one connection. */
  private exclusive<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (!this.db) await this.open();
      return fn(this.db!.conn);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes letters durably, one file per first-seen day named `<name>.parquet`; resolves once
   * every file is fsynced and renamed into place. The same name written again replaces the
   * file with the same content (a redelivered batch).
   */
  async append(letters: readonly ArchivedDeadLetter[], name: string): Promise<string[]> {
    const byDay = new Map<string, ArchivedDeadLetter[]>();
    for (const l of letters) {
      const day = dayOf(l.firstSeen);
      byDay.set(day, [...(byDay.get(day) ?? []), l]);
    }
    const files: string[] = [];
    for (const [day, rows] of byDay) {
      const dir = join(this.lettersDir, `dt=${day}`);
      files.push(await this.writeParquet(dir, `${name}.parquet`, LETTER_COLUMNS, rows.length, (ap, i) => appendLetter(ap, rows[i]!)));
    }
    return files;
  }

  /** Appends attempt results (replayed / failed-again) to the status log, durably. */
  async recordAttempts(records: readonly AttemptRecord[], runId: string): Promise<void> {
    if (records.length === 0) return;
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${runId}-${randomUUID().slice(0, 8)}.parquet`;
    await this.writeParquet(this.attemptsDir, name, ATTEMPT_COLUMNS, records.length, (ap, i) => {
      const r = records[i]!;
      ap.appendVarchar(r.id);
      ap.appendVarchar(r.status);
      ap.appendInteger(r.attempts);
      nullable(ap, r.code);
      nullable(ap, r.message);
      nullable(ap, r.field);
      ap.appendBigInt(BigInt(r.at));
      ap.appendVarchar(runId);
    });
  }

  private writeParquet(dir: string, name: string, columns: string, count: number, row: (ap: Appender, i: number) => void): Promise<string> {
    return this.exclusive(async (c) => {
      mkdirSync(dir, { recursive: true });
      const table = `w_${randomUUID().replaceAll('-', '')}`;
      const final = join(dir, name);
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      try {
        await c.run(`CREATE TEMP TABLE ${table} (${columns})`);
        const ap = await c.createAppender(table);
        for (let i = 0; i < count; i++) {
          row(ap, i);
          ap.endRow();
        }
        ap.flushSync();
        ap.closeSync();
        await c.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`);
        renameDurable(tmp, final);
        return final;
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new DependencyError('DLQ_STORE_WRITE_FAILED', `could not write ${final}: ${(err as Error).message}`, err);
      } finally {
        await c.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      }
    });
  }

  /**
   * Removes the letters that `match` (an erasure): each letters file holding one is rewritten
   * without it under a scratch name and renamed over (deleted when nothing is left), one file at
   * a time. Returns the distinct letters removed (or that would be, with `dryRun`).
   */
  async erase(match: (l: Pick<StoredDeadLetter, 'siteId' | 'payload' | 'payloadFormat'>) => boolean, dryRun = false): Promise<{ letters: number; files: number }> {
    const ids = new Set<string>();
    let files = 0;
    if (!existsSync(this.lettersDir)) return { letters: 0, files: 0 };
    for (const day of readdirSync(this.lettersDir).filter((d) => d.startsWith('dt=')).sort()) {
      const dir = join(this.lettersDir, day);
      for (const name of readdirSync(dir).filter((f) => f.endsWith('.parquet') && !f.startsWith('.'))) {
        const file = join(dir, name);
        const hit = await this.exclusive(async (c) => {
          const rows = (await c.runAndReadAll(`SELECT id, site_id, payload_format, payload FROM read_parquet(${sqlString(file)})`)).getRowObjectsJS();
          const out: string[] = [];
          for (const r of rows) {
            const siteId = r.site_id === null ? undefined : String(r.site_id);
            const payload = r.payload instanceof Uint8Array ? Buffer.from(r.payload) : Buffer.alloc(0);
            if (match({ ...(siteId !== undefined ? { siteId } : {}), payload, payloadFormat: r.payload_format as StoredDeadLetter['payloadFormat'] })) out.push(String(r.id));
          }
          if (out.length === 0 || dryRun) return out;
          const tmp = join(dir, `.${name}.${process.pid}.erase.tmp`);
          const list = out.map(sqlString).join(', ');
          try {
            const kept = (await c.runAndReadAll(`COPY (SELECT * FROM read_parquet(${sqlString(file)}) WHERE id NOT IN (${list})) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, RETURN_STATS)`)).getRowObjectsJS();
            if (kept.reduce((n, k) => n + Number(k.count ?? 0), 0) === 0) {
              rmSync(tmp, { force: true });
              rmSync(file, { force: true });
            } else renameDurable(tmp, file);
          } catch (err) {
            rmSync(tmp, { force: true });
            throw new DependencyError('DLQ_STORE_WRITE_FAILED', `could not rewrite ${file} without the erased letters: ${(err as Error).message}`, err);
          }
          return out;
        });
        if (hit.length) files++;
        for (const id of hit) ids.add(id);
      }
    }
    return { letters: ids.size, files };
  }

  private hasFiles(dir: string, depth: number): boolean {
    if (!existsSync(dir)) return false;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isFile() && e.name.endsWith('.parquet') && !e.name.startsWith('.')) return true;
      if (e.isDirectory() && depth > 0 && this.hasFiles(join(dir, e.name), depth - 1)) return true;
    }
    return false;
  }

  /** The deduplicated letters joined with their latest attempt, as a SQL FROM clause. */
  private currentView(): string {
    // By name with a typed empty relation: files written before a column existed read it as NULL.
    const files = this.hasFiles(this.lettersDir, 1)
      ? `SELECT * FROM read_parquet(${sqlString(join(this.lettersDir, '*', '*.parquet'))}, hive_partitioning = false, union_by_name = true)
         UNION ALL BY NAME ${emptyRelation(LETTER_COLUMNS)}`
      : emptyRelation(LETTER_COLUMNS);
    const letters = `SELECT * EXCLUDE (reporter), list_sort(list_distinct(list(reporter) OVER (PARTITION BY id))) AS seen_by FROM (${files})
         QUALIFY row_number() OVER (PARTITION BY id ORDER BY archived_at, dlq_offset) = 1`;
    const attempts = this.hasFiles(this.attemptsDir, 0)
      ? `SELECT * FROM read_parquet(${sqlString(join(this.attemptsDir, '*.parquet'))}, union_by_name = true)`
      : emptyRelation(ATTEMPT_COLUMNS);
    return `(
      WITH l AS (${letters}),
      a AS (SELECT * FROM (${attempts}) QUALIFY row_number() OVER (PARTITION BY id ORDER BY attempts DESC, attempted_at DESC) = 1)
      SELECT l.* EXCLUDE (attempts), coalesce(a.attempts, l.attempts) AS attempts, coalesce(a.status, 'pending') AS status,
        a.code AS last_code, a.message AS last_message, a.field AS last_field, a.attempted_at AS last_attempt_at
      FROM l LEFT JOIN a USING (id)
    )`;
  }

  async list(filter: LetterFilter = {}, options: { limit?: number; offset?: number; payload?: boolean } = {}): Promise<StoredDeadLetter[]> {
    const { where, params } = whereClause(filter);
    const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))} OFFSET ${Math.max(0, Math.floor(options.offset ?? 0))}`;
    const cols = options.payload === false ? '* EXCLUDE (payload), NULL::BLOB AS payload' : '*';
    return this.exclusive(async (c) => {
      const reader = await c.runAndReadAll(`SELECT ${cols} FROM ${this.currentView()} ${where} ORDER BY first_seen, id${limit}`, params);
      return reader.getRowObjectsJS().map(toStored);
    });
  }

  async get(id: string): Promise<StoredDeadLetter | undefined> {
    const [one] = await this.list({ ids: [id] }, { limit: 1 });
    return one;
  }

  async count(filter: LetterFilter = {}): Promise<number> {
    const { where, params } = whereClause(filter);
    return this.exclusive(async (c) => {
      const reader = await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${this.currentView()} ${where}`, params);
      return Number(reader.getRowObjectsJS()[0]!.n);
    });
  }

  /**
   * Source records (topic/partition/offset) already replayed, with the letter that did it:
   * the speed consumer and the lake archiver both dead-letter the same bad record, and it
   * must reach the events topic once.
   */
  async replayedSources(): Promise<Map<string, string>> {
    return this.exclusive(async (c) => {
      const reader = await c.runAndReadAll(
        `SELECT source_topic, source_partition, source_offset, min(id) AS id FROM ${this.currentView()}
         WHERE status = 'replayed' AND source_topic IS NOT NULL GROUP BY ALL`,
      );
      return new Map(reader.getRowObjectsJS().map((r) => [sourceKey({ topic: String(r.source_topic), partition: Number(r.source_partition), offset: String(r.source_offset) }), String(r.id)]));
    });
  }

  /** Counts by time bucket (first seen), stage, code and status. */
  async stats(filter: LetterFilter = {}, bucket: 'minute' | 'hour' | 'day' = 'hour'): Promise<LetterStats[]> {
    const { where, params } = whereClause(filter);
    return this.exclusive(async (c) => {
      const reader = await c.runAndReadAll(
        `SELECT epoch_ms(date_trunc(${sqlString(bucket)}, epoch_ms(first_seen)))::BIGINT AS bucket, stage, code, status, count(*)::INTEGER AS n
         FROM ${this.currentView()} ${where} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
        params,
      );
      return reader.getRowObjectsJS().map((r) => ({ bucket: Number(r.bucket), stage: String(r.stage), code: String(r.code), status: String(r.status), count: Number(r.n) }) as LetterStats);
    });
  }

  /** Deletes day folders whose whole day is older than `cutoffMs` (retention). */
  prune(cutoffMs: number): string[] {
    if (!existsSync(this.lettersDir)) return [];
    const cutoffDay = dayOf(cutoffMs);
    const removed: string[] = [];
    for (const e of readdirSync(this.lettersDir, { withFileTypes: true })) {
      const m = /^dt=(\d{4}-\d{2}-\d{2})$/.exec(e.name);
      if (e.isDirectory() && m && m[1]! < cutoffDay) {
        rmSync(join(this.lettersDir, e.name), { recursive: true, force: true });
        removed.push(m[1]!);
      }
    }
    return removed;
  }
}

export function sourceKey(s: { topic: string; partition: number; offset: string }): string {
  return `${s.topic}/${s.partition}/${s.offset}`;
}

type Appender = Awaited<ReturnType<DuckDBConnection['createAppender']>>;

function nullable(ap: Appender, v: string | undefined | null): void {
  if (v === undefined || v === null) ap.appendNull();
  else ap.appendVarchar(v);
}

function appendLetter(ap: Appender, l: ArchivedDeadLetter): void {
  ap.appendVarchar(l.id);
  ap.appendVarchar(l.stage);
  ap.appendVarchar(l.code);
  ap.appendVarchar(l.message);
  nullable(ap, l.field);
  nullable(ap, l.siteId);
  ap.appendBigInt(BigInt(Math.trunc(l.firstSeen)));
  ap.appendInteger(l.attempts);
  nullable(ap, l.source?.topic);
  if (l.source) ap.appendInteger(l.source.partition);
  else ap.appendNull();
  nullable(ap, l.source?.offset);
  ap.appendVarchar(l.payloadFormat);
  ap.appendBlob(l.payload);
  ap.appendInteger(l.dlqPartition);
  ap.appendBigInt(BigInt(l.dlqOffset));
  ap.appendBigInt(BigInt(l.archivedAt));
  nullable(ap, l.reporter);
  nullable(ap, l.redacted);
}

function whereClause(f: LetterFilter): { where: string; params: Record<string, DuckDBValue> } {
  const parts: string[] = [];
  const params: Record<string, DuckDBValue> = {};
  const inList = (col: string, name: string, values: readonly string[] | undefined) => {
    if (values === undefined) return;
    parts.push(`list_contains($${name}, ${col})`);
    params[name] = listValue([...values]);
  };
  inList('stage', 'stages', f.stage);
  inList('code', 'codes', f.code);
  inList('site_id', 'sites', f.site);
  inList('status', 'statuses', f.status);
  inList('id', 'ids', f.ids);
  if (f.from !== undefined) {
    parts.push('first_seen >= $from');
    params.from = BigInt(Math.trunc(f.from));
  }
  if (f.to !== undefined) {
    parts.push('first_seen < $to');
    params.to = BigInt(Math.trunc(f.to));
  }
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

function toStored(r: Record<string, unknown>): StoredDeadLetter {
  const str = (v: unknown) => (v === null || v === undefined ? undefined : String(v));
  const field = str(r.field);
  const siteId = str(r.site_id);
  const lastCode = str(r.last_code);
  const lastMessage = str(r.last_message);
  const lastField = str(r.last_field);
  const redacted = str(r.redacted);
  return {
    id: String(r.id),
    stage: r.stage as StoredDeadLetter['stage'],
    code: r.code as StoredDeadLetter['code'],
    message: String(r.message),
    firstSeen: Number(r.first_seen),
    attempts: Number(r.attempts),
    payloadFormat: r.payload_format as StoredDeadLetter['payloadFormat'],
    payload: r.payload === null || r.payload === undefined ? Buffer.alloc(0) : Buffer.from(r.payload as Uint8Array),
    status: r.status as StoredDeadLetter['status'],
    seenBy: Array.isArray(r.seen_by) ? r.seen_by.map(String) : [],
    dlqPartition: Number(r.dlq_partition),
    dlqOffset: String(r.dlq_offset),
    archivedAt: Number(r.archived_at),
    ...(field === undefined ? {} : { field }),
    ...(siteId === undefined ? {} : { siteId }),
    ...(redacted === undefined ? {} : { redacted }),
    ...(r.source_topic === null || r.source_topic === undefined
      ? {}
      : { source: { topic: String(r.source_topic), partition: Number(r.source_partition), offset: String(r.source_offset) } }),
    ...(lastCode === undefined ? {} : { lastCode: lastCode as StoredDeadLetter['code'] }),
    ...(lastMessage === undefined ? {} : { lastMessage }),
    ...(lastField === undefined ? {} : { lastField }),
    ...(r.last_attempt_at === null || r.last_attempt_at === undefined ? {} : { lastAttemptAt: Number(r.last_attempt_at) }),
  };
}
