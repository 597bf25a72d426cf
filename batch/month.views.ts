/**
 * Month views (issue 18, tiered retention): per site and local month, the exact metrics of the
 * month, computed from the days' deduplicated events while they exist, so that a month is still
 * answered once the raw events are past their tier (RETENTION_LAKE) and until the day tier
 * (RETENTION_VIEWS_DAY). Visitors and sessions are distinct over the month, never summed over days,
 * which is why they come from the events and not from the day rollups.
 *
 * A month is cut in the site's time zone with its reporting currency's revenue, as the site had
 * them when the month was computed (sites file); each row names both, and a reader asking in
 * another zone or currency gets `missing` rather than another zone's month. A zone's month is
 * computed only when every UTC day it spans from the views' first day on is in the version whole
 * and still holds its events (`complete`); its sites then get a row with `complete = false` so a
 * reader tells "not computed" from "no events". A day before W without an entry had no events.
 */
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import { listValue, timestampValue, type DuckDBConnection } from '@duckdb/node-api';
import { Calendar } from '../core/calendar.ts';
import { tableHeld, type RetentionTiers } from '../core/retention.ts';
import { DEFAULT_CURRENCY } from '../core/views.ts';
import { DAY_MS, formatDay, parseDay } from './lake.layout.ts';
import type { DayEntry, MonthEntry } from './types.ts';
import { rollupSql } from './views.sql.ts';
import type { ViewsStore } from './views.store.ts';

/** The time zone and reporting currency of a site (core/sites.ts `Sites` fits); unknown: UTC and USD. */
export interface SiteCalendars {
  get(site: string): { timezone?: string; currency?: string } | undefined;
}

export const MONTH_FILE = 'month.parquet';
const MONTH_PARQUET = 'FORMAT parquet, COMPRESSION zstd';

/** `YYYY-MM` of a UTC day or instant. */
export function monthOf(t: number | string): string {
  return (typeof t === 'string' ? t : formatDay(t)).slice(0, 7);
}

/**
 * The local months whose span in some zone overlaps UTC day `day` (a zone 14 hours east starts its
 * month in the last UTC day of the month before; one 12 hours west ends it in the next's first).
 */
export function monthsTouching(day: string): string[] {
  const t = parseDay(day);
  return [...new Set([monthOf(t - DAY_MS), monthOf(t), monthOf(t + DAY_MS)])];
}

/** A local month of `zone`: [its 1st's midnight, the next 1st's midnight). */
export function localMonth(month: string, zone: string): { from: number; to: number } {
  const cal = Calendar.of(zone);
  const from = cal.floor(Date.parse(`${month}-15T12:00:00Z`), 'month');
  return { from, to: cal.next(from, 'month') };
}

/** UTC days overlapping [from, to). */
function utcDays(from: number, to: number): string[] {
  const days: string[] = [];
  for (let t = Math.floor(from / DAY_MS) * DAY_MS; t < to; t += DAY_MS) days.push(formatDay(t));
  return days;
}

export interface MonthViewsInput {
  conn: DuckDBConnection;
  store: ViewsStore;
  /** The days of the version about to be published, and its W: a day before W without an entry had no events. */
  days: Readonly<Record<string, DayEntry>>;
  watermark: number | null;
  months: readonly string[];
  runId: string;
  sites?: SiteCalendars;
  now: number;
  tiers?: RetentionTiers;
}

/**
 * Writes `months/<month>/<runId>/month.parquet` for each month whose days still hold their events,
 * and returns their entries; a month some of whose days lost their events keeps its earlier views
 * (its absence from the result), since nothing of it can change any more.
 */
export async function writeMonthViews(input: MonthViewsInput): Promise<Record<string, MonthEntry>> {
  const { conn, store, days, now, tiers } = input;
  const covered = Object.keys(days).sort();
  const first = covered[0];
  const out: Record<string, MonthEntry> = {};
  if (!first) return out;
  const eventsHeld = (d: string) => tableHeld(d, days[d], 'events', now, tiers);
  for (const month of [...new Set(input.months)].sort()) {
    // Every zone's month lies within [1st − 1 day, next 1st + 1 day).
    const widest = utcDays(Date.parse(`${month}-01T00:00:00Z`) - DAY_MS, localMonth(month, 'UTC').to + DAY_MS).filter((d) => d >= first && days[d]);
    if (widest.length === 0 || !widest.every(eventsHeld)) continue;
    const files = widest.map((d) => store.tablePath(days[d]!.dir, 'events'));
    const siteRows = (await conn.runAndReadAll('SELECT DISTINCT site_id FROM read_parquet($files)', { files: listValue(files) })).getRowObjectsJS();
    const groups = new Map<string, { zone: string; currency: string; sites: string[] }>();
    for (const r of siteRows) {
      const site = String(r.site_id);
      const s = input.sites?.get(site);
      const zone = Calendar.of(s?.timezone ?? 'UTC').zone;
      const currency = s?.currency ?? DEFAULT_CURRENCY;
      const key = `${zone}\u0000${currency}`;
      const g = groups.get(key) ?? { zone, currency, sites: [] };
      g.sites.push(site);
      groups.set(key, g);
    }
    await conn.run(`CREATE OR REPLACE TEMP TABLE month_rows (site_id VARCHAR, zone VARCHAR, currency VARCHAR, bucket BIGINT, complete BOOLEAN,
      pageviews BIGINT, visitors BIGINT, sessions BIGINT, events BIGINT, purchases BIGINT, revenue_micros BIGINT, bounces BIGINT, duration_ms BIGINT, bot_pageviews BIGINT)`);
    for (const g of groups.values()) {
      const span = localMonth(month, g.zone);
      const need = utcDays(span.from, span.to).filter((d) => d >= first);
      const complete = input.watermark !== null && span.to <= input.watermark && need.every((d) => !days[d] || (days[d]!.until === undefined && eventsHeld(d)));
      const params = { sites: listValue(g.sites), zone: g.zone, currency: g.currency, bucket: BigInt(span.from) };
      if (!complete) {
        await conn.run(`INSERT INTO month_rows (site_id, zone, currency, bucket, complete) SELECT unnest($sites), $zone, $currency, $bucket, false`, params);
        continue;
      }
      const ts = (ms: number) => timestampValue(BigInt(ms) * 1000n);
      const monthFiles = need.filter((d) => days[d]).map((d) => store.tablePath(days[d]!.dir, 'events'));
      const source = `(SELECT * FROM read_parquet($files) WHERE list_contains($sites, site_id) AND event_time >= $from_ts AND event_time < $to_ts)`;
      // No computed day of this zone's month (it only touches the views' first day at an edge): zeros below.
      if (monthFiles.length > 0) {
        await conn.run(
          `INSERT INTO month_rows SELECT site_id, $zone, $currency, $bucket, true, pageviews, visitors, sessions, events, purchases, revenue_micros, bounces, duration_ms, bot_pageviews
           FROM (${rollupSql(source, '0', true, false)})`,
          { ...params, files: listValue(monthFiles), from_ts: ts(span.from), to_ts: ts(span.to) },
        );
      }
      // A site of the group without events in its own month (only in the widest span's edges) has a zero month.
      await conn.run(`INSERT INTO month_rows (site_id, zone, currency, bucket, complete, pageviews, visitors, sessions, events, purchases, revenue_micros, bounces, duration_ms, bot_pageviews)
        SELECT s, $zone, $currency, $bucket, true, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM (SELECT unnest($sites) AS s) WHERE s NOT IN (SELECT site_id FROM month_rows)`, params);
    }
    const dirAbs = store.monthDir(month, input.runId);
    mkdirSync(dirAbs, { recursive: true });
    await conn.run(`COPY (SELECT * FROM month_rows ORDER BY site_id, zone) TO $out (${MONTH_PARQUET})`, { out: store.monthPath(relative(store.root, dirAbs)) });
    await conn.run('DROP TABLE month_rows');
    out[month] = { dir: relative(store.root, dirAbs), computedAt: Date.now() };
  }
  return out;
}
