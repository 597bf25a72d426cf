/**
 * The batch views' row shapes, shared by every batch-view store (batch/ on DuckDB files,
 * clickhouse/ on ClickHouse tables) so both answer from the same rows the same way: the columns
 * of a rollup row, the dimension columns of the day's events, and a rollup row's metric values.
 */
import { isPropDimension, isVisitPageDimension, propKeyOf, type AnyDimension, type Dimension, type FilterCondition, type Metric } from './views.ts';

/** Columns of a rollup row (minute, hour and day tables, and the readers' on-the-fly answers). */
export const ROLLUP_METRIC_COLUMNS = ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue_micros', 'bounces', 'duration_ms', 'bot_pageviews'] as const;
export type RollupColumn = (typeof ROLLUP_METRIC_COLUMNS)[number];
export type RollupRow = Record<RollupColumn, number> & { bucket: number };

/** The dimension columns of the day's events, named like core/views.ts Dimension. */
export const DIMENSION_COLUMNS: Record<Dimension, string> = {
  page: 'page',
  referrer: 'referrer',
  country: 'country',
  device: 'device',
  browser: 'browser',
  os: 'os',
  utm_source: 'utm_source',
  utm_medium: 'utm_medium',
  utm_campaign: 'utm_campaign',
  utm_term: 'utm_term',
  utm_content: 'utm_content',
  channel: 'channel',
  event_name: 'event_name',
  currency: 'currency',
};

/**
 * The column (or expression) of a dimension in the day's events: a fixed dimension's column, or a
 * custom property's value by the store's `property(key)` expression (missing or empty: `(none)`).
 */
export function dimensionColumn(d: AnyDimension, property: (key: string) => string): string {
  if (isVisitPageDimension(d)) throw new RangeError(`${d} is a visit's page, not a column of the events: stores filter by it through visitPageFilterSql`);
  return isPropDimension(d) ? property(propKeyOf(d)) : DIMENSION_COLUMNS[d];
}

/** Columns of a per-day breakdown row (`dims`): per site, dimension and value. */
export const BREAKDOWN_METRIC_COLUMNS = ['pageviews', 'visitors', 'events', 'revenue_micros'] as const;

/** Rollup row → the metric values of core/views.ts (revenue stays in micros, the contract's unit). */
export function metricValue(row: RollupRow, metric: Metric | string): number {
  switch (metric) {
    case 'revenue':
      return row.revenue_micros;
    case 'bounce_rate':
      return row.sessions ? row.bounces / row.sessions : 0;
    case 'visit_duration':
      return row.sessions ? row.duration_ms / 1000 / row.sessions : 0;
    default:
      return row[metric as keyof RollupRow] ?? 0;
  }
}

/** A row of numbers (64-bit integers may come as strings or bigints) as a RollupRow. */
export function toRollupRow(r: Record<string, unknown>, toNumber: (v: unknown) => number): RollupRow {
  const row = { bucket: toNumber(r.bucket) } as RollupRow;
  for (const c of ROLLUP_METRIC_COLUMNS) row[c] = toNumber(r[c]);
  return row;
}

/**
 * A filter condition (core/views.ts) as a SQL predicate over `column`, in either store's dialect:
 * `value(j)` gives the j-th value as a bound parameter or a quoted literal, `contains` the
 * dialect's substring test. Several values are ORed; `is_not` / `contains_not` negate the OR.
 */
export function conditionSqlOf(c: FilterCondition, column: string, value: (j: number) => string, contains: (column: string, value: string) => string, regex: (column: string, value: string) => string): string {
  if (c.values.length === 0) throw new RangeError(`a filter condition on ${c.dimension} needs at least one value`);
  // `matches`: the values are bound as regular expressions (core/views.ts conditionValues).
  if (c.op === 'matches') return `(${c.values.map((_, j) => regex(column, value(j))).join(' OR ')})`;
  const any = c.op === 'is' || c.op === 'is_not' ? `${column} IN (${c.values.map((_, j) => value(j)).join(', ')})` : `(${c.values.map((_, j) => contains(column, value(j))).join(' OR ')})`;
  return c.op === 'is' || c.op === 'contains' ? any : `NOT (${any})`;
}
