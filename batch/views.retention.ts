/**
 * Tiered retention of the batch views (issue 18): raw detail kept short, aggregates kept long.
 * Each table of a day folder belongs to a tier (core/retention.ts): `minute.parquet` is deleted
 * once its day is past RETENTION_VIEWS_MINUTE, `hour.parquet` past RETENTION_VIEWS_HOUR,
 * `events.parquet` past RETENTION_LAKE (the lake's own rule, so the views never keep raw events
 * the lake no longer has), and the whole folder (day rollups, breakdowns, sketches) leaves with
 * the month views past RETENTION_VIEWS_DAY.
 *
 * Day folders are shared by versions, so the step deletes past-tier files from every folder any
 * kept version uses, and publishes a new version whose entries record what was trimmed; older
 * kept versions read the deleted files as gone through the same tier rule (core/retention.ts
 * `tableHeld`), so none of them serves what a tier no longer holds. Before a day's events go, the
 * month views of its months are computed if missing, so a month past the events tier is still
 * answered from them.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBOptions } from '../core/duckdb.ts';
import { openDuckDB } from '../core/duckdb.ts';
import type { Logger } from '../core/logger.ts';
import { pastTier, TABLE_TIER, type RetentionTiers } from '../core/retention.ts';
import { DAY_MS } from './lake.layout.ts';
import { localMonth, monthsTouching, writeMonthViews, type SiteCalendars } from './month.views.ts';
import type { DayEntry, MonthEntry, VersionManifest } from './types.ts';
import { ViewsStore, type ViewTable } from './views.store.ts';

/** The tables a tier can take from a folder before the whole day leaves, shortest tier first by default. */
const TRIMMABLE = ['minute', 'hour', 'events'] as const satisfies readonly ViewTable[];

/** What retention does to one day's entry at `now`: the tables to delete, or the whole day. */
export function dayTrim(day: string, entry: Pick<DayEntry, 'trimmed'>, now: number, tiers: RetentionTiers): { drop: boolean; tables: ViewTable[] } {
  if (pastTier(day, now, tiers.day)) return { drop: true, tables: [] };
  return { drop: false, tables: TRIMMABLE.filter((t) => !entry.trimmed?.includes(t) && pastTier(day, now, tiers[TABLE_TIER[t]])) };
}

/**
 * Whether a month's views are past the day tier: they leave with the month's first day, since
 * serving answers nothing before the day tier's cut (a month only partly within it is missing).
 */
export function monthPast(month: string, now: number, tiers: RetentionTiers): boolean {
  return pastTier(`${month}-01`, now, tiers.day);
}

/**
 * A freshly written folder held to the tiers before it is published (a day computed again long
 * after it happened): past-tier tables deleted and recorded; null when the whole day is past.
 */
export function trimNewEntry(store: ViewsStore, day: string, entry: DayEntry, now: number, tiers: RetentionTiers | undefined): DayEntry | null {
  if (!tiers) return entry;
  const t = dayTrim(day, entry, now, tiers);
  if (t.drop) {
    rmSync(join(store.root, entry.dir), { recursive: true, force: true });
    return null;
  }
  if (t.tables.length === 0) return entry;
  for (const table of t.tables) rmSync(store.tablePath(entry.dir, table), { force: true });
  return { ...entry, trimmed: [...(entry.trimmed ?? []), ...t.tables] };
}

export interface TrimViewsOptions {
  dataDir: string;
  tiers: RetentionTiers;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** Zones and currencies of the month views computed before a day's events go. */
  sites?: SiteCalendars;
  logger?: Logger;
}

export interface TrimResult {
  /** The version published with the trims recorded (null: nothing to do). */
  version: string | null;
  /** `<day> <table>` per table file deleted, `<day>` per day folder removed, `month <YYYY-MM>` per month folder. */
  items: string[];
  /** Month views computed before their days' events went. */
  monthsComputed: string[];
}

/**
 * Holds the views to the tiers at `now`: computes missing month views of days about to lose their
 * events, publishes a version recording what goes, then deletes it from every kept version's
 * folders. Idempotent: a second run at the same `now` finds nothing to do.
 */
export async function trimViews(o: TrimViewsOptions, now: number): Promise<TrimResult> {
  const store = new ViewsStore(o.dataDir);
  const result: TrimResult = { version: null, items: [], monthsComputed: [] };
  const unlock = store.lock();
  try {
    const current = store.current();
    if (!current) return result;
    const { tiers } = o;
    const days: Record<string, DayEntry> = {};
    const leaving: string[] = [];
    for (const [day, entry] of Object.entries(current.days)) {
      const t = dayTrim(day, entry, now, tiers);
      if (t.drop) continue;
      if (t.tables.includes('events')) leaving.push(day);
      days[day] = t.tables.length ? { ...entry, trimmed: [...(entry.trimmed ?? []), ...t.tables] } : entry;
    }
    const months: Record<string, MonthEntry> = {};
    for (const [m, e] of Object.entries(current.months ?? {})) if (!monthPast(m, now, tiers)) months[m] = e;
    // A month whose events go now and that has no views yet (data from before month views, or a
    // month never complete at a batch run) gets them while the events are still there.
    const missing = [...new Set(leaving.flatMap(monthsTouching))].filter((m) => !months[m] && !monthPast(m, now, tiers));
    if (missing.length) {
      const db = await openDuckDB({ ...o.duckdb, tempDir: join(o.dataDir, 'views', '_duckdb_tmp') });
      try {
        // The files are all still there: held as the current version records them.
        const computed = await writeMonthViews({ conn: db.conn, store, days: current.days, watermark: current.watermark, months: missing, runId: `retention-${now}`, now, ...(o.sites ? { sites: o.sites } : {}) });
        Object.assign(months, computed);
        result.monthsComputed = Object.keys(computed).sort();
      } finally {
        db.close();
      }
    }
    const changed =
      Object.keys(days).length !== Object.keys(current.days).length ||
      Object.entries(days).some(([d, e]) => e !== current.days[d]) ||
      Object.keys(months).length !== Object.keys(current.months ?? {}).length ||
      result.monthsComputed.length > 0 ||
      JSON.stringify(current.retention) !== JSON.stringify(tiers);
    if (changed) {
      const manifest: VersionManifest = { ...current, version: store.nextVersion(), createdAt: Date.now(), runId: `retention-${new Date(now).toISOString()}`, parent: current.version, days, months, retention: tiers };
      store.publish(manifest);
      result.version = manifest.version;
    }
    // Then the files, from every folder a kept version uses (an older version may hold an older folder of a day).
    result.items.push(...deletePastTier(store, now, tiers));
    if (result.items.length || result.version) o.logger?.info({ event: 'views_retention_trimmed', version: result.version, items: result.items.length, months_computed: result.monthsComputed }, `batch views held to their tiers${result.version ? ` (${result.version})` : ''}`);
    return result;
  } finally {
    unlock();
  }
}

/** Deletes what is past its tier from the folders of every kept version; returns what it deleted. */
function deletePastTier(store: ViewsStore, now: number, tiers: RetentionTiers): string[] {
  const items: string[] = [];
  const dayDirs = new Map<string, string>();
  const monthDirs = new Map<string, string>();
  for (const v of store.versions()) {
    const m = store.manifest(v);
    for (const [day, e] of Object.entries(m.days)) dayDirs.set(e.dir, day);
    for (const [month, e] of Object.entries(m.months ?? {})) monthDirs.set(e.dir, month);
  }
  for (const [dir, day] of dayDirs) {
    if (!existsSync(join(store.root, dir))) continue;
    const t = dayTrim(day, {}, now, tiers);
    if (t.drop) {
      rmSync(join(store.root, dir), { recursive: true, force: true });
      items.push(`${dir} (day tier)`);
      continue;
    }
    for (const table of t.tables) {
      const file = store.tablePath(dir, table);
      if (!existsSync(file)) continue;
      rmSync(file, { force: true });
      items.push(`${dir}/${table}.parquet`);
    }
  }
  for (const [dir, month] of monthDirs) {
    if (!monthPast(month, now, tiers) || !existsSync(join(store.root, dir))) continue;
    rmSync(join(store.root, dir), { recursive: true, force: true });
    items.push(`${dir} (day tier)`);
  }
  return items.sort();
}

export interface HoldInput {
  store: ViewsStore;
  dataDir: string;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  tiers?: RetentionTiers;
  sites?: SiteCalendars;
  runId: string;
  now: number;
  /** The version the run started from, and the one it is about to publish. */
  previous: VersionManifest | null;
  manifest: VersionManifest;
}

/**
 * What a batch run adds to the version it publishes: its new folders held to the tiers (a day
 * computed long after it happened), the month views of the months its days touch once they are
 * over (a late day recomputes its month), and the tiers themselves, so readers hold to them.
 */
export async function holdToTiers(h: HoldInput): Promise<Pick<VersionManifest, 'days' | 'months'> & { retention?: RetentionTiers }> {
  const before = h.previous?.days ?? {};
  const changed = [...Object.keys(h.manifest.days).filter((d) => h.manifest.days[d] !== before[d]), ...Object.keys(before).filter((d) => !h.manifest.days[d])];
  const months: Record<string, MonthEntry> = { ...(h.previous?.months ?? {}) };
  // Once every zone's month is over within W (its widest span ends a day after the UTC month).
  const over = (m: string) => h.manifest.watermark !== null && h.manifest.watermark >= localMonth(m, 'UTC').to + DAY_MS;
  const wanted = [...new Set(changed.flatMap(monthsTouching))].filter((m) => over(m) && !(h.tiers && monthPast(m, h.now, h.tiers)));
  if (wanted.length) {
    const db = await openDuckDB({ ...h.duckdb, tempDir: join(h.dataDir, 'views', '_duckdb_tmp') });
    try {
      // From the events still on disk (a day computed long after it happened has them until it is trimmed below).
      Object.assign(months, await writeMonthViews({ conn: db.conn, store: h.store, days: h.manifest.days, watermark: h.manifest.watermark, months: wanted, runId: h.runId, now: h.now, ...(h.sites ? { sites: h.sites } : {}) }));
    } finally {
      db.close();
    }
  }
  const days: Record<string, DayEntry> = {};
  for (const [day, entry] of Object.entries(h.manifest.days)) {
    const held = entry !== before[day] ? trimNewEntry(h.store, day, entry, h.now, h.tiers) : entry;
    if (held) days[day] = held;
  }
  const retention = h.tiers ?? h.previous?.retention;
  return { days, months, ...(retention ? { retention } : {}) };
}
