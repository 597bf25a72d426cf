/**
 * Month buckets past the raw events' tier, answered from the month views (batch/month.views.ts):
 * the row of the site's month in the query's zone, revenue only in the currency it was summed in.
 * What they cannot answer (a filter or event name, another zone, a month never computed whole)
 * stays missing, with the reason.
 */
import { existsSync } from 'node:fs';
import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { num } from '../core/duckdb.ts';
import { metricValue, ROLLUP_METRIC_COLUMNS, type RollupRow } from '../core/rollups.ts';
import { calendarOf, reportingCurrency, type MetricValues, type SeriesPoint, type SeriesQuery } from '../core/views.ts';
import type { VersionManifest } from './types.ts';
import type { ViewsStore } from './views.store.ts';

type Query = (sql: string, params: Record<string, DuckDBValue>) => Promise<Record<string, unknown>[]>;

function valuesOf(row: Record<string, unknown> | undefined, q: SeriesQuery): MetricValues {
  const r = { bucket: 0 } as RollupRow;
  for (const c of ROLLUP_METRIC_COLUMNS) r[c] = num(row?.[c]);
  const values: MetricValues = {};
  const revenueOk = !row || row.currency === reportingCurrency(q);
  for (const m of q.metrics) if (m !== 'revenue' || revenueOk) values[m] = metricValue(r, m);
  return values;
}

/** The points the month views answer among `starts` (local month starts); the others keep their gap's reason, extended. */
export async function monthSeries(store: ViewsStore, manifest: VersionManifest, q: SeriesQuery, starts: number[], gaps: Map<number, string>, query: Query): Promise<Map<number, SeriesPoint>> {
  const cal = calendarOf(q);
  const out = new Map<number, SeriesPoint>();
  const labelOf = (start: number) => cal.localDate(start).slice(0, 7);
  const fileOf = new Map<string, string>();
  for (const start of starts) {
    const entry = manifest.months?.[labelOf(start)];
    if (entry && existsSync(store.monthPath(entry.dir))) fileOf.set(labelOf(start), store.monthPath(entry.dir));
  }
  const filtered = q.eventName !== undefined || Object.values(q.filters ?? {}).some((v) => v !== undefined);
  const rows = fileOf.size && !filtered ? await query(`SELECT * FROM read_parquet($files, filename = true) WHERE site_id = $site`, { files: listValue([...fileOf.values()]), site: q.site }) : [];
  for (const start of starts) {
    const label = labelOf(start);
    const gap = gaps.get(start)!;
    const miss = (why: string) => out.set(start, { start, values: {}, missing: `${gap}; ${why}` });
    if (filtered) {
      miss('month views hold whole months without filters or event names');
      continue;
    }
    const file = fileOf.get(label);
    if (!file) {
      miss(`no month view of ${label} was computed`);
      continue;
    }
    const mine = rows.filter((r) => r.filename === file);
    const row = mine.find((r) => r.zone === cal.zone);
    if (mine.length && !row) miss(`the month view of ${label} was computed in ${String(mine[0]!.zone)}, not ${cal.zone}`);
    else if (row && !row.complete) miss(`the month view of ${label} is incomplete: not every day of it was in the views`);
    // No row: the site had no events that month.
    else out.set(start, { start, values: valuesOf(row, q) });
  }
  return out;
}
