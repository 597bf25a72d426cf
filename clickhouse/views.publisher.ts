/**
 * Publishes the batch views into ClickHouse (BATCH_VIEWS_STORE=clickhouse): makes ClickHouse
 * mirror the batch job's current version. Each day folder of the version that a shard lacks is
 * copied from its view files (DuckDB → CSV → one insert per table), its row counts checked, and
 * only then recorded in that shard's `view_dirs`; after every shard has every folder, the
 * manifest is written and the pointer moves, in one row. A failure anywhere before that leaves
 * the pointer where it was, so serving keeps answering from the previous version, and the next
 * sync finishes the job (a folder half copied is removed and copied again). Folders no kept
 * version uses any more are removed after the move.
 */
import { mutationsDone } from './mutations.ts';
import { trimPastTiers } from './views.retention.ts';
import { existsSync, mkdirSync, rmSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import { LIST, VARCHAR, listValue } from '@duckdb/node-api';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { num, openDuckDB, type DuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import type { ClickHouseConnection } from './clickhouse.client.ts';
import { LOAD_INSERT_SETTINGS } from './options.ts';
import { createDatabaseSql } from './warehouse.schema.ts';
import { WarehouseError } from './warehouse.errors.ts';
import { qualifiedName, quoteString } from './sql.quote.ts';
import { readPointer, type ViewVersion } from './views.reader.ts';
import {
  addedColumnsDdl,
  distributedDdl,
  distributedTable,
  PARTITION_BY,
  quoteDir,
  sitesByShard,
  VIEW_COLUMNS,
  OPTIONAL_VIEW_TABLES,
  VIEW_DATA_TABLES,
  VIEW_DIRS_TABLE,
  VIEW_POINTER_TABLE,
  VIEW_VERSIONS_TABLE,
  viewDataDdl,
  viewDirsDdl,
  viewExportExpression,
  viewPointerDdl,
  viewTable,
  viewVersionsDdl,
  type ViewDataTable,
} from './views.schema.ts';

/** The batch job's versions, as the publisher needs them (apps/ adapts batch/'s ViewsStore). */
export interface ViewsSource {
  /** The current version, or null before the first batch run. */
  current(): ViewVersion | null;
  /** Versions kept on disk: their folders stay loaded, so a rollback is a pointer move. */
  kept(): ViewVersion[];
  /** Why the current pointer was set. */
  reason(): string;
  /** The view file of a folder's table. */
  file(dir: string, table: ViewDataTable): string;
}

export interface PublisherDeps {
  /** The entry server: manifests and pointer (and the Distributed tables of a cluster). */
  entry: ClickHouseConnection;
  /** Every shard's server, in the cluster's shard order; one server: `[entry]`. */
  shards: readonly ClickHouseConnection[];
  database: string;
  /** The `remote_servers` cluster of the Distributed tables (absent on one server). */
  cluster?: string;
  /** DuckDB of the export (view files → CSV). */
  duckdb: DuckDBOptions;
  /** Folder of the CSV files while a folder loads (removed afterwards). */
  workDir: string;
  logger?: Logger;
  clock?: () => number;
  /** Test seam: runs after every shard holds every folder, right before the pointer moves. */
  beforeFlip?: (version: string) => Promise<void>;
}

export interface DirLoad {
  dir: string;
  shard: number;
  rows: number;
  ms: number;
}

export interface PublishResult {
  /** The version ClickHouse now serves (null: none yet). */
  version: string | null;
  watermark: number | null;
  /** Whether the pointer moved. */
  moved: boolean;
  loaded: DirLoad[];
  dropped: string[];
  /** `<dir> <table>` per table whose rows left a shard, a retention tier being over (views.retention.ts). */
  trimmed?: string[];
}

/** The CSV dialect of warehouse.export.ts: text fields always quoted, so only NULL would be bare `\N`. */
function csvOptions(table: ViewDataTable): string {
  const quoted = VIEW_COLUMNS[table].filter((c) => c.kind === 'text' || c.kind === 'keys' || c.kind === 'values').map((c) => c.name);
  return `FORMAT csv, HEADER false, DELIMITER ',', QUOTE '"', ESCAPE '"', NULLSTR '\\N', FORCE_QUOTE (dir, ${quoted.join(', ')})`;
}

const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;

export class ViewsPublisher {
  private readonly clock: () => number;

  constructor(private readonly deps: PublisherDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  private name(table: string): string {
    return qualifiedName(this.deps.database, table);
  }

  /** Creates what is missing on the entry: manifests, pointer and, in a cluster, the Distributed tables. */
  async ensureEntrySchema(): Promise<void> {
    const { database, cluster, entry } = this.deps;
    await entry.command(createDatabaseSql(database), 'creating the views database');
    await entry.command(viewVersionsDdl(database), 'creating the view_versions table');
    await entry.command(viewPointerDdl(database), 'creating the view_pointer table');
    if (cluster) {
      for (const t of VIEW_DATA_TABLES) {
        await entry.command(viewDataDdl(database, t), `creating the ${viewTable(t)} table`);
        await entry.command(distributedDdl(database, cluster, t), `creating the Distributed ${viewTable(t)} table`);
        await this.addColumns(entry, distributedTable(t), t);
      }
    }
  }

  /** Adds the columns of `t` that `table` on `ch`, made by an earlier Twinlane, lacks. */
  private async addColumns(ch: ClickHouseConnection, table: string, t: ViewDataTable): Promise<void> {
    const rows = await ch.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = ${quoteString(this.deps.database)} AND table = ${quoteString(table)}`, `reading the columns of ${table}`);
    for (const ddl of addedColumnsDdl(this.name(table), t, new Set(rows.map((r) => r.name)))) await ch.command(ddl, `adding a column to ${table}`);
  }

  /** Creates what is missing on a shard: the data tables and `view_dirs`. */
  async ensureShardSchema(shard: number): Promise<void> {
    const ch = this.deps.shards[shard]!;
    await ch.command(createDatabaseSql(this.deps.database), 'creating the views database');
    for (const t of VIEW_DATA_TABLES) {
      await ch.command(viewDataDdl(this.deps.database, t), `creating the ${viewTable(t)} table`);
      await this.addColumns(ch, viewTable(t), t);
    }
    await ch.command(viewDirsDdl(this.deps.database), 'creating the view_dirs table');
  }

  /** The folders completely loaded on a shard. */
  async loadedDirs(shard: number): Promise<Set<string>> {
    const rows = await this.deps.shards[shard]!.rows<{ dir: string }>(`SELECT DISTINCT dir FROM ${this.name(VIEW_DIRS_TABLE)}`, 'reading the loaded view folders');
    return new Set(rows.map((r) => r.dir));
  }

  /**
   * Makes ClickHouse serve the source's current version: shard by shard, the folders it lacks are
   * copied; the pointer moves once all are there. Folders of no kept version are dropped after.
   */
  async sync(source: ViewsSource, signal?: AbortSignal): Promise<PublishResult> {
    await this.ensureEntrySchema();
    const current = source.current();
    const before = await readPointer({ connection: this.deps.entry, database: this.deps.database });
    const result: PublishResult = { version: before?.version ?? null, watermark: before?.watermark ?? null, moved: false, loaded: [], dropped: [] };
    if (!current) return result;
    const wanted = [...new Set(Object.values(current.days).map((d) => d.dir))].sort();
    const loaded: Set<string>[] = [];
    let db: DuckDB | undefined;
    try {
      for (let shard = 0; shard < this.deps.shards.length; shard++) {
        await this.ensureShardSchema(shard);
        const have = await this.loadedDirs(shard);
        for (const dir of wanted.filter((d) => !have.has(d))) {
          signal?.throwIfAborted();
          if (!db) {
            mkdirSync(this.deps.workDir, { recursive: true });
            db = await openDuckDB(this.deps.duckdb, { code: 'VIEWS_DUCKDB_OPEN_FAILED', purpose: 'the batch views export' });
          }
          result.loaded.push(await this.loadDir(db, source, dir, shard, signal));
          have.add(dir);
        }
        loaded.push(have);
      }
    } finally {
      db?.close();
    }
    signal?.throwIfAborted();
    await this.writeManifest(current);
    if (!before || before.version !== current.version || before.watermark !== current.watermark) {
      await this.deps.beforeFlip?.(current.version);
      const now = this.clock();
      await this.deps.entry.insertRows(
        this.name(VIEW_POINTER_TABLE),
        [{ seq: Math.max(now, (before?.seq ?? 0) + 1), version: current.version, watermark: current.watermark, reason: source.reason(), updated_ms: now }],
        `moving the batch views pointer to ${current.version}`,
      );
      result.moved = true;
      this.deps.logger?.info({ event: 'views_pointer_moved', store: 'clickhouse', from: before?.version ?? null, to: current.version, watermark: current.watermark });
    }
    result.version = current.version;
    result.watermark = current.watermark;
    result.dropped = await this.dropUnused(source, loaded);
    result.trimmed = await trimPastTiers(this.deps, source, loaded, this.clock());
    return result;
  }

  private async writeManifest(v: ViewVersion): Promise<void> {
    const table = this.name(VIEW_VERSIONS_TABLE);
    const [have] = await this.deps.entry.rows<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE version = ${quoteString(v.version)}`, `looking for the manifest of ${v.version}`);
    if (Number(have?.n ?? 0) > 0) return;
    const manifest: ViewVersion = { version: v.version, watermark: v.watermark, days: v.days, ...(v.retention ? { retention: v.retention } : {}) };
    await this.deps.entry.insertRows(table, [{ version: v.version, manifest: JSON.stringify(manifest), created_ms: this.clock() }], `writing the manifest of ${v.version}`);
  }

  /** Copies one folder's tables into one shard (its sites' rows), checks the counts, records it. */
  private async loadDir(db: DuckDB, source: ViewsSource, dir: string, shard: number, signal?: AbortSignal): Promise<DirLoad> {
    const t0 = performance.now();
    const ch = this.deps.shards[shard]!;
    const shards = this.deps.shards.length;
    const work = join(this.deps.workDir, `${dir.replaceAll('/', '_')}-${shard}`);
    mkdirSync(work, { recursive: true });
    // A folder half copied by a failed sync is removed first: the copy below is then the only one.
    for (const t of VIEW_DATA_TABLES) await this.removeDir(ch, t, dir);
    try {
      let sites: string[] | undefined;
      if (shards > 1) {
        const all = await this.duck(db, `SELECT DISTINCT CAST(site_id AS VARCHAR) AS s FROM read_parquet(${sqlText(source.file(dir, 'events'))})`, {}, dir);
        sites = (await sitesByShard(this.deps.entry, all.map((r) => String(r.s)), shards))[shard]!;
      }
      let events = 0;
      for (const t of VIEW_DATA_TABLES) {
        signal?.throwIfAborted();
        const file = source.file(dir, t);
        // A table the retention step deleted from the folder (its tier is over) is not copied.
        if (!existsSync(file) && (OPTIONAL_VIEW_TABLES.has(t) || source.kept().some((v) => Object.values(v.days).some((d) => d.dir === dir && d.trimmed?.includes(t))))) continue;
        if (!existsSync(file)) throw new WarehouseError('WAREHOUSE_EXPORT_FAILED', `the view file ${file} of ${dir} is missing`);
        const csv = join(work, `${t}.csv`);
        const cols = VIEW_COLUMNS[t].map((c) => `${viewExportExpression(c)} AS ${c.name}`).join(', ');
        const where = sites ? ` WHERE list_contains($sites, CAST(site_id AS VARCHAR))` : '';
        // The list's type is named: a shard without sites of this folder gets an empty one.
        const [done] = await this.duck(db, `COPY (SELECT ${sqlText(dir)} AS dir, ${cols} FROM read_parquet(${sqlText(file)})${where}) TO ${sqlText(csv)} (${csvOptions(t)})`, sites ? { sites: listValue(sites) } : {}, dir, sites ? { sites: LIST(VARCHAR) } : undefined);
        const rows = num(done?.Count);
        if (rows > 0) {
          const columns = ['dir', ...VIEW_COLUMNS[t].map((c) => c.name)];
          await ch.insertStream(this.name(viewTable(t)), columns, createReadStream(csv, { highWaterMark: 1 << 20 }), 'CSV', `inserting ${dir} into ${viewTable(t)}`, { settings: LOAD_INSERT_SETTINGS, ...(signal ? { signal } : {}) });
        }
        rmSync(csv, { force: true });
        const [n] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${this.name(viewTable(t))} WHERE dir = ${quoteDir(dir)}`, `counting ${dir} in ${viewTable(t)}`);
        if (Number(n?.n ?? 0) !== rows) throw new WarehouseError('WAREHOUSE_LOAD_MISMATCH', `${viewTable(t)} holds ${n?.n ?? 0} rows of ${dir} on shard ${shard + 1}, ${rows} were exported; the version was not published`);
        if (t === 'events') events = rows;
      }
      await ch.insertRows(this.name(VIEW_DIRS_TABLE), [{ dir, events, loaded_ms: this.clock() }], `recording ${dir} as loaded`);
      const load: DirLoad = { dir, shard, rows: events, ms: Math.round(performance.now() - t0) };
      this.deps.logger?.info({ event: 'views_dir_loaded', store: 'clickhouse', dir, shard: shard + 1, events, ms: load.ms });
      return load;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * Removes a folder's rows from one table of a shard: its partition (the events), or else an
   * `ALTER TABLE … DELETE` awaited to its end (a mutation runs in the background; its end is what
   * lets the count check of a copy that follows see only the copy).
   */
  private async removeDir(ch: ClickHouseConnection, t: ViewDataTable, dir: string): Promise<void> {
    const table = this.name(viewTable(t));
    if (PARTITION_BY[t] === 'dir') {
      await ch.command(`ALTER TABLE ${table} DROP PARTITION ${quoteDir(dir)}`, `dropping ${dir} from ${viewTable(t)}`);
      return;
    }
    const [n] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE dir = ${quoteDir(dir)}`, `looking for ${dir} in ${viewTable(t)}`);
    if (Number(n?.n ?? 0) === 0) return;
    await ch.command(`ALTER TABLE ${table} DELETE WHERE dir = ${quoteDir(dir)}`, `deleting ${dir} from ${viewTable(t)}`);
    await mutationsDone(ch, this.deps.database, viewTable(t));
  }

  private async duck(db: DuckDB, sql: string, params: Parameters<DuckDB['conn']['runAndReadAll']>[1], dir: string, types?: Parameters<DuckDB['conn']['runAndReadAll']>[2]): Promise<Record<string, unknown>[]> {
    try {
      return (await db.conn.runAndReadAll(sql, params, types)).getRowObjectsJS() as Record<string, unknown>[];
    } catch (err) {
      throw new WarehouseError('WAREHOUSE_EXPORT_FAILED', `could not read the view files of ${dir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Drops the folders (and manifests) no kept version and not the served one uses. */
  private async dropUnused(source: ViewsSource, loaded: Set<string>[]): Promise<string[]> {
    const kept = source.kept();
    const used = new Set(kept.flatMap((v) => Object.values(v.days).map((d) => d.dir)));
    const dropped = new Set<string>();
    for (const [shard, dirs] of loaded.entries()) {
      const ch = this.deps.shards[shard]!;
      for (const dir of dirs) {
        if (used.has(dir)) continue;
        // The record goes first: a stop half way leaves a folder that is "not loaded", never one recorded but gone.
        await ch.command(`ALTER TABLE ${this.name(VIEW_DIRS_TABLE)} DELETE WHERE dir = ${quoteDir(dir)}`, `forgetting ${dir}`);
        await mutationsDone(ch, this.deps.database, VIEW_DIRS_TABLE);
        for (const t of VIEW_DATA_TABLES) await this.removeDir(ch, t, dir);
        dropped.add(dir);
      }
    }
    const keptVersions = new Set(kept.map((v) => v.version));
    const held = await this.deps.entry.rows<{ version: string }>(`SELECT DISTINCT version FROM ${this.name(VIEW_VERSIONS_TABLE)}`, 'listing the manifests');
    const stale = held.map((r) => r.version).filter((v) => !keptVersions.has(v));
    // Only when there is something to forget: each ALTER … DELETE is a mutation ClickHouse keeps a record of.
    if (stale.length && keptVersions.size) {
      await this.deps.entry.command(`ALTER TABLE ${this.name(VIEW_VERSIONS_TABLE)} DELETE WHERE version IN (${stale.map(quoteString).join(', ')})`, 'forgetting manifests of versions no longer kept');
    }
    if (dropped.size) this.deps.logger?.info({ event: 'views_dirs_dropped', store: 'clickhouse', dirs: [...dropped] });
    return [...dropped].sort();
  }
}
