/**
 * The warehouse of exact events (contract 11): keeps ClickHouse's `events` table equal, day by
 * day, to the days the current batch version covers. A day is loaded atomically: its events go
 * into a fresh staging table, the row count is checked, then one `ALTER TABLE … REPLACE
 * PARTITION` swaps the day in; a failure anywhere before the swap leaves the previous copy of the
 * day untouched, and the swap itself is atomic in ClickHouse. So a re-run, a backfill or a
 * rollback leaves exactly one copy of each event.
 *
 * Which computation a day holds is written to `warehouse_loads` after each swap; `sync()`
 * compares that with the batch version's days and loads only what differs, so a step that
 * failed (ClickHouse down) is made good by the next one, whatever the batch run then did.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '../core/logger.ts';
import { openDuckDB, type DuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import type { ClickHouseConnection } from './clickhouse.client.ts';
import { dayPartition, qualifiedName, quoteString, validDay } from './sql.quote.ts';
import { WarehouseError } from './warehouse.errors.ts';
import { mutationsDone } from './mutations.ts';
import { ERASED_MACRO } from '../core/erasure.list.ts';
import { daySites, exportDay } from './warehouse.export.ts';
import { distributedEventsDdl, EVENTS_ALL_TABLE } from './warehouse.schema.ts';
import { sitesByShard } from './views.schema.ts';
import { LOAD_INSERT_SETTINGS } from './options.ts';
import {
  EVENTS_TABLE,
  LOADS_TABLE,
  STAGING_PREFIX,
  WAREHOUSE_COLUMNS,
  columnsSql,
  createDatabaseSql,
  otherOwnerSql,
  eventsDdl,
  loadedDaysSql,
  loadsDdl,
  stagingTablesSql,
} from './warehouse.schema.ts';

/** One day as the batch version has it. */
export interface DaySource {
  day: string;
  /** Which batch computation of the day this is (its view folder): the day is reloaded when it changes. */
  source: string;
  /** The day's lake files; none (lake retention removed them) keeps the day as the warehouse has it. */
  files: readonly string[];
}

/** What `warehouse_loads` says a day holds. */
export interface LoadedDay {
  day: string;
  /** '' when the day was dropped. */
  source: string;
  rows: number;
  loadedAt: number;
}

export interface DayLoad {
  day: string;
  source: string;
  rows: number;
  duplicates: number;
  exportMs: number;
  insertMs: number;
  swapMs: number;
}

export interface SyncResult {
  loaded: DayLoad[];
  dropped: string[];
  /** Days already holding the wanted computation, or without lake files to load. */
  unchanged: number;
  /** Staging tables of crashed loads that were removed. */
  leftovers: string[];
}

export interface LoaderDeps {
  /** The entry server: load records (and, in a cluster, the Distributed `events_all`). */
  connection: ClickHouseConnection;
  /**
   * Every shard's server in remote_servers order, each holding its sites' rows (cityHash64 of the
   * site id, like the batch views); absent: the entry server alone holds `events`.
   */
  shards?: readonly ClickHouseConnection[];
  /** The remote_servers cluster of `events_all` (with `shards`). */
  cluster?: string;
  database: string;
  /**
   * Who the database mirrors, `<host>:<absolute DATA_DIR>` (ownerOf): a database that holds loads
   * of another owner is refused, since syncing it would drop that pipeline's days — unless that
   * owner is a DATA_DIR of this host that no longer exists (a removed scratch or test folder).
   */
  owner: string;
  /** HTTP insert streams per day. */
  streams: number;
  /** DuckDB of the export (lake → CSV); its tempDir takes spills. */
  duckdb: DuckDBOptions;
  /** Folder of the CSV parts while a day loads (removed afterwards). */
  workDir: string;
  logger?: Logger;
  clock?: () => number;
  /** Test seam: runs after the staging table is full and checked, right before the swap. */
  beforeSwap?: (day: string) => Promise<void>;
  /** The erasure list's `tl_erased` macro (ErasureList.macroSql); absent: nothing is erased. */
  erasedMacroSql?: () => string;
}

/** The owner of the loads a pipeline writes: this host and its DATA_DIR. */
export function ownerOf(dataDir: string): string {
  return `${hostname()}:${resolve(dataDir)}`;
}

/** An owner on this host whose DATA_DIR is gone. */
function ownerIsGone(owner: string): boolean {
  const at = owner.indexOf(':');
  return at > 0 && owner.slice(0, at) === hostname() && !existsSync(owner.slice(at + 1));
}

/** Staging tables older than this belong to a crashed load. */
const LEFTOVER_AGE_MS = 3_600_000;
const STAGING_NAME = /^events_staging_\d{8}_(\d+)_[0-9a-f]+$/;

/** The CSV parts of a day as the export finishes them; `next()` waits for one, undefined once closed and drained. */
class PartQueue {
  private readonly parts: string[] = [];
  private waiters: ((part: string | undefined) => void)[] = [];
  private closed = false;

  push(part: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(part);
    else this.parts.push(part);
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  next(): Promise<string | undefined> {
    const part = this.parts.shift();
    if (part !== undefined || this.closed) return Promise.resolve(part);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export class WarehouseLoader {
  private readonly events: string;
  private readonly loads: string;
  private readonly clock: () => number;

  private readonly shards: readonly ClickHouseConnection[];

  constructor(private readonly deps: LoaderDeps) {
    this.events = qualifiedName(deps.database, EVENTS_TABLE);
    this.loads = qualifiedName(deps.database, LOADS_TABLE);
    this.clock = deps.clock ?? Date.now;
    this.shards = deps.shards?.length ? deps.shards : [deps.connection];
  }

  /**
   * Creates the database and tables when missing (at every sync: a server whose data was lost
   * is set up again by the next run); refuses an events table of other columns.
   */
  async ensureSchema(): Promise<void> {
    const { connection: entry, database, cluster } = this.deps;
    for (const ch of new Set([entry, ...this.shards])) {
      await ch.command(createDatabaseSql(database), 'creating the warehouse database');
      await ch.command(eventsDdl(database), 'creating the events table');
      const have = await ch.rows<{ name: string; type: string }>(columnsSql(database, EVENTS_TABLE), 'reading the events columns');
      const key = (c: { name: string; type: string }) => `${c.name} ${c.type}`;
      const want = new Set(WAREHOUSE_COLUMNS.map(key));
      const got = new Set(have.map(key));
      const missing = [...want].filter((c) => !got.has(c));
      if (missing.length) {
        throw new WarehouseError('WAREHOUSE_SCHEMA_MISMATCH', `${database}.${EVENTS_TABLE} on ${ch.url} exists with other columns than this version writes (missing or different: ${missing.join(', ')}); rename or drop it to let the warehouse create it again`);
      }
    }
    await entry.command(loadsDdl(database), 'creating the loads table');
    if (cluster) await entry.command(distributedEventsDdl(database, cluster), `creating the Distributed ${EVENTS_ALL_TABLE} table`);
  }

  /** The newest load row of each day (after ensureSchema). */
  async loadedDays(): Promise<Map<string, LoadedDay>> {
    const rows = await this.deps.connection.rows<{ load_day: string; last_source: string; last_rows: string; last_ms: string }>(loadedDaysSql(this.deps.database), 'reading the load records');
    return new Map(rows.map((r) => [r.load_day, { day: r.load_day, source: r.last_source, rows: Number(r.last_rows), loadedAt: Number(r.last_ms) }]));
  }

  /** Rows per day (YYYY-MM-DD) in the events table, from its active parts (metadata, no scan). */
  async rowsPerDay(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const ch of this.shards) {
      const rows = await ch.rows<{ partition_id: string; rows: string }>(
        `SELECT partition_id, sum(rows) AS rows FROM system.parts WHERE database = ${quoteString(this.deps.database)} AND table = ${quoteString(EVENTS_TABLE)} AND active GROUP BY partition_id`,
        'reading the events partitions',
      );
      for (const r of rows) {
        const day = `${r.partition_id.slice(0, 4)}-${r.partition_id.slice(4, 6)}-${r.partition_id.slice(6, 8)}`;
        out.set(day, (out.get(day) ?? 0) + Number(r.rows));
      }
    }
    return out;
  }

  /**
   * Makes the warehouse hold exactly `target`: loads every day whose computation differs from
   * the one recorded (or whose row count no longer matches its record), drops recorded days the
   * target no longer has. Days go one by one; each is atomic, so a stop keeps what is done.
   */
  async sync(target: readonly DaySource[], signal?: AbortSignal): Promise<SyncResult> {
    await this.ensureSchema();
    await this.checkOwner();
    const leftovers = await this.dropLeftovers();
    const [loaded, counts] = await Promise.all([this.loadedDays(), this.rowsPerDay()]);
    const wanted = new Set(target.map((t) => validDay(t.day)));
    const stale = (t: DaySource) => {
      const l = loaded.get(t.day);
      return !l || l.source !== t.source || (counts.get(t.day) ?? 0) !== l.rows;
    };
    // A day without lake files is kept as it is: the warehouse may hold history the lake no longer has.
    const toLoad = target.filter((t) => t.files.length > 0 && stale(t)).sort((a, b) => (a.day < b.day ? -1 : 1));
    const toDrop = [...loaded.values()].filter((l) => l.source !== '' && !wanted.has(l.day)).map((l) => l.day);
    const result: SyncResult = { loaded: [], dropped: [], unchanged: target.length - toLoad.length, leftovers };
    if (toLoad.length) {
      mkdirSync(this.deps.workDir, { recursive: true });
      const db = await openDuckDB(this.deps.duckdb, { code: 'WAREHOUSE_DUCKDB_OPEN_FAILED', purpose: 'the warehouse export' });
      try {
        await db.conn.run(this.deps.erasedMacroSql?.() ?? `CREATE OR REPLACE TEMP MACRO ${ERASED_MACRO}(s, v) AS false`);
        for (const t of toLoad) {
          signal?.throwIfAborted();
          result.loaded.push(await this.loadDay(db, t, signal));
        }
      } finally {
        db.close();
      }
    }
    for (const day of toDrop) {
      signal?.throwIfAborted();
      await this.dropDay(day);
      result.dropped.push(day);
    }
    return result;
  }

  /**
   * Loads one day: per shard (its sites' rows) export, staging insert and count check; then the
   * partition swap on every shard and the load record. Every shard is staged and checked before
   * the first swap, so a failure while staging changes nothing; the swaps themselves are one
   * statement per shard (ClickHouse has no transaction across servers), and the record, written
   * after the last, makes the next sync redo a day whose swaps were cut short.
   */
  async loadDay(db: DuckDB, src: DaySource, signal?: AbortSignal): Promise<DayLoad> {
    const { logger } = this.deps;
    const day = validDay(src.day);
    const stamp = `${day.replaceAll('-', '')}_${Math.floor(this.clock() / 1000)}_${randomBytes(4).toString('hex')}`;
    const dir = join(this.deps.workDir, `${day}-${stamp}`);
    const staging = qualifiedName(this.deps.database, `${STAGING_PREFIX}${stamp}`);
    const t0 = performance.now();
    const staged: number[] = [];
    try {
      const sites = this.shards.length > 1 ? await sitesByShard(this.deps.connection, await daySites(db, day, src.files), this.shards.length) : [undefined];
      let rows = 0;
      let duplicates = 0;
      let exportMs = 0;
      const rowsOf: number[] = [];
      for (const [i, ch] of this.shards.entries()) {
        signal?.throwIfAborted();
        staged.push(i);
        const r = await this.stage(db, ch, i, staging, src, join(dir, String(i)), sites[i], signal);
        rowsOf.push(r.rows);
        rows += r.rows;
        duplicates += r.duplicates;
        exportMs += r.exportMs;
      }
      const insertMs = performance.now() - t0;
      await this.deps.beforeSwap?.(day);
      const t1 = performance.now();
      for (const [i, ch] of this.shards.entries()) await this.swap(ch, staging, day, rowsOf[i]!, this.shards.length > 1 ? ` of shard ${i + 1}` : '');
      await this.record(day, src.source, rows);
      const swapMs = performance.now() - t1;
      const load: DayLoad = { day, source: src.source, rows, duplicates, exportMs: Math.round(exportMs), insertMs: Math.round(insertMs), swapMs: Math.round(swapMs) };
      logger?.info({ event: 'warehouse_day_loaded', day, source: src.source, rows: load.rows, duplicates: load.duplicates, shards: this.shards.length, export_ms: load.exportMs, insert_ms: load.insertMs, swap_ms: load.swapMs });
      return load;
    } finally {
      // When ClickHouse is down this fails too; the next sync removes the leftover.
      for (const i of staged) await this.shards[i]!.command(`DROP TABLE IF EXISTS ${staging}`, `dropping the staging table of ${day}`).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * Swaps the staged day into `events` on one server, with the table's merges paused: on 18.16 a
   * merge of the day's previous parts that ends after the swap brings them back (seen under load:
   * a day held one and a half copies). The day's row count is checked afterwards; a swap that did
   * not leave exactly the staged rows is done again, then refused (the next sync redoes the day).
   */
  private async swap(ch: ClickHouseConnection, staging: string, day: string, rows: number, where: string): Promise<void> {
    const partition = dayPartition(day);
    const statement = rows > 0 ? `ALTER TABLE ${this.events} REPLACE PARTITION ID ${partition} FROM ${staging}` : `ALTER TABLE ${this.events} DROP PARTITION ID ${partition}`;
    await ch.command(`SYSTEM STOP MERGES ${this.events}`, `pausing merges of the events table${where}`);
    try {
      for (let attempt = 1; ; attempt++) {
        await ch.command(statement, `swapping ${day} into the events table${where}`);
        const [r] = await ch.rows<{ n: string }>(
          `SELECT sum(rows) AS n FROM system.parts WHERE database = ${quoteString(this.deps.database)} AND table = ${quoteString(EVENTS_TABLE)} AND partition_id = ${partition} AND active`,
          `counting ${day} in the events table${where}`,
        );
        const held = Number(r?.n ?? 0);
        if (held === rows) return;
        if (attempt >= 2) throw new WarehouseError('WAREHOUSE_LOAD_MISMATCH', `after the swap the events table${where} holds ${held} rows of ${day}, ${rows} were staged; the load is not recorded and the next sync redoes the day`);
        this.deps.logger?.warn({ event: 'warehouse_swap_recount', day, held, staged: rows });
      }
    } finally {
      await ch.command(`SYSTEM START MERGES ${this.events}`, `resuming merges of the events table${where}`).catch((err: unknown) => this.deps.logger?.warn({ event: 'warehouse_start_merges_failed', day, err }));
    }
  }

  /** One shard's share of a day into a fresh staging table on it, inserted while exported, then counted. */
  private async stage(db: DuckDB, ch: ClickHouseConnection, shard: number, staging: string, src: DaySource, dir: string, sites: string[] | undefined, signal?: AbortSignal): Promise<{ rows: number; duplicates: number; exportMs: number }> {
    const { logger } = this.deps;
    const day = src.day;
    const t = performance.now();
    await ch.command(`CREATE TABLE ${staging} AS ${this.events}`, `creating the staging table of ${day}`);
    // Merging the staging parts while they arrive cost a third more CPU and half again the
    // time (measured, 10M events); the swapped-in parts merge in the events table afterwards.
    await ch.command(`SYSTEM STOP MERGES ${staging}`, `pausing merges of the staging table of ${day}`).catch((err: unknown) => logger?.warn({ event: 'warehouse_stop_merges_failed', day, err }));
    // Each hour's part is inserted as soon as it is exported, while the next hours export.
    const parts = new PartQueue();
    const inserting = this.insertParts(ch, staging, parts, day, signal);
    inserting.catch(() => undefined);
    let exported: Awaited<ReturnType<typeof exportDay>>;
    try {
      exported = sites && sites.length === 0 ? { rows: 0, duplicates: 0, parts: [] } : await exportDay(db, day, src.files, dir, (part) => parts.push(part), sites);
    } finally {
      parts.close();
    }
    const exportMs = performance.now() - t;
    await inserting;
    const [{ n } = { n: '0' }] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${staging}`, `counting the staging rows of ${day}`);
    if (Number(n) !== exported.rows) throw new WarehouseError('WAREHOUSE_LOAD_MISMATCH', `the staging table of ${day}${this.shards.length > 1 ? ` on shard ${shard + 1}` : ''} holds ${n} rows, ${exported.rows} were exported; the day was not swapped in`);
    return { rows: exported.rows, duplicates: exported.duplicates, exportMs };
  }

  /**
   * Deletes one visitor's events of a site (or the whole site's) on every shard, days the lake no
   * longer holds included, and waits for the deletion to finish; each changed day's load record
   * takes its new count, so the next sync reloads only days whose batch computation changed.
   */
  async erase(site: string, visitor: string | undefined, dryRun = false): Promise<{ rows: number; days: string[] }> {
    await this.ensureSchema();
    const where = `site_id = ${quoteString(site)}${visitor === undefined ? '' : ` AND visitor_id = ${quoteString(visitor)}`}`;
    const perDay = new Map<string, number>();
    for (const ch of this.shards) {
      const rows = await ch.rows<{ day: string; n: string }>(`SELECT toString(toDate(event_time)) AS day, count() AS n FROM ${this.events} WHERE ${where} GROUP BY day`, 'counting the events to erase');
      for (const r of rows) perDay.set(r.day, (perDay.get(r.day) ?? 0) + Number(r.n));
    }
    const rows = [...perDay.values()].reduce((a, b) => a + b, 0);
    const days = [...perDay.keys()].sort();
    if (dryRun || rows === 0) return { rows, days };
    for (const ch of this.shards) {
      await ch.command(`ALTER TABLE ${this.events} DELETE WHERE ${where}`, 'erasing events');
      await mutationsDone(ch, this.deps.database, EVENTS_TABLE);
    }
    const [loaded, counts] = await Promise.all([this.loadedDays(), this.rowsPerDay()]);
    for (const day of days) {
      const l = loaded.get(day);
      if (l && l.source !== '') await this.record(day, l.source, counts.get(day) ?? 0);
    }
    this.deps.logger?.info({ event: 'warehouse_erased', site, whole_site: visitor === undefined, rows, days: days.length });
    return { rows, days };
  }

  /** Removes a day from the warehouse (the batch version no longer covers it). */
  async dropDay(day: string): Promise<void> {
    for (const ch of this.shards) await ch.command(`ALTER TABLE ${this.events} DROP PARTITION ID ${dayPartition(day)}`, `dropping ${day} from the events table`);
    await this.record(day, '', 0);
    this.deps.logger?.info({ event: 'warehouse_day_dropped', day });
  }

  /** Refuses a database that mirrors another DATA_DIR (a live one, or one of another host). */
  async checkOwner(): Promise<void> {
    const { connection: ch, database, owner } = this.deps;
    const [other] = await ch.rows<{ owner: string; last_ms: string }>(otherOwnerSql(database, owner), 'reading the owner of the loads');
    if (other && ownerIsGone(other.owner)) {
      this.deps.logger?.warn({ event: 'warehouse_owner_gone', database, previous_owner: other.owner, owner });
    } else if (other) {
      throw new WarehouseError(
        'WAREHOUSE_OTHER_OWNER',
        `ClickHouse database ${database} mirrors the batch views of ${other.owner} (last load ${new Date(Number(other.last_ms)).toISOString()}), not of ${owner}: give this pipeline its own CLICKHOUSE_DATABASE, or drop that database to start it over`,
      );
    }
  }

  /** Staging tables left by crashed loads (older than an hour, so a running load keeps its own). */
  async dropLeftovers(): Promise<string[]> {
    const { database } = this.deps;
    const dropped: string[] = [];
    for (const ch of this.shards) {
      const tables = await ch.rows<{ name: string }>(stagingTablesSql(database), 'listing staging tables');
      const old = tables.map((t) => t.name).filter((n) => {
        const m = STAGING_NAME.exec(n);
        return m !== null && this.clock() - Number(m[1]) * 1000 > LEFTOVER_AGE_MS;
      });
      for (const name of old) await ch.command(`DROP TABLE IF EXISTS ${qualifiedName(database, name)}`, `dropping the leftover staging table ${name}`);
      dropped.push(...old);
    }
    return dropped;
  }

  /** One insert stream per part as the parts come, `streams` at a time; the first failure stops the others. */
  private async insertParts(ch: ClickHouseConnection, staging: string, queue: PartQueue, day: string, signal?: AbortSignal): Promise<void> {
    const columns = WAREHOUSE_COLUMNS.map((c) => c.name);
    const failed = new AbortController();
    const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    const worker = async () => {
      for (let part = await queue.next(); part !== undefined && !stop.aborted; part = await queue.next()) {
        await ch.insertStream(staging, columns, createReadStream(part, { highWaterMark: 1 << 20 }), 'CSV', `inserting ${day} into its staging table`, { settings: LOAD_INSERT_SETTINGS, signal: stop });
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: this.deps.streams }, () =>
        worker().catch((err: unknown) => {
          failed.abort(err);
          throw err;
        }),
      ),
    );
    signal?.throwIfAborted();
    const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (first) throw failed.signal.reason ?? first.reason;
  }

  private async record(day: string, source: string, rows: number): Promise<void> {
    const now = this.clock();
    await this.deps.connection.insertRows(
      this.loads,
      [{ day, source, rows, loaded_at: new Date(now).toISOString().slice(0, 19).replace('T', ' '), loaded_ms: now, load_id: randomBytes(8).toString('hex'), owner: this.deps.owner }],
      `recording the load of ${day}`,
    );
  }
}
