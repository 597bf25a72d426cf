/**
 * The reader's SQL over the ClickHouse views: batch/views.sql.ts's definitions in ClickHouse's
 * dialect (`-If` combinators for FILTER, uniqExact for count(DISTINCT)), over the same rows, so
 * both stores give the same answers (the shared contract suite checks it). Bots count only in
 * bot_pageviews; visitors and sessions are exact distinct counts of non-bot traffic; a session's
 * bounce and duration are taken within the bucket; revenue sums purchases in the reporting
 * currency. Every value reaches this text through quoteString after validation, or is a number
 * checked here.
 */
import { conditionSqlOf, dimensionColumn, DIMENSION_COLUMNS } from '../core/rollups.ts';
import { conditionValues, DIMENSIONS, isPropDimension, isVisitPageDimension, MISSING_PROPERTY_LABEL, UnsupportedQueryError, type AnyDimension, type Dimension, type FilterCondition, type Filters, type Grain } from '../core/views.ts';
import { UsageError } from '../core/errors.ts';
import { quoteString } from './sql.quote.ts';

/** An epoch-ms instant as SQL text (an integer, checked). */
export function msLiteral(t: number): string {
  if (!Number.isSafeInteger(t)) throw new UsageError('BAD_INSTANT', `${t} is not an instant in epoch milliseconds`);
  return String(t);
}

/**
 * A dimension's column in the view events; a custom property's value from the two arrays (an
 * index of 0, the key absent, reads as the empty string), missing or empty as `(none)`.
 */
export function columnSql(d: AnyDimension): string {
  return dimensionColumn(d, (key) => {
    const v = `property_values[indexOf(property_keys, ${quoteString(key)})]`;
    return `if(empty(${v}), ${quoteString(MISSING_PROPERTY_LABEL)}, ${v})`;
  });
}

/** A visit's entry (exit) page among its page views, by time, ties by path: the breakdown's and the filter's. */
export const VISIT_PAGE = { entry: 'argMin(page, tuple(event_ms, page))', exit: 'argMax(page, tuple(event_ms, page))' } as const;

/**
 * `AND col = '…'` for each filter and each condition (`position` is the substring test of 18.16 and
 * today's releases alike); only the fixed dimension columns can appear.
 */
export function filterSql(filters: Filters | undefined, conditions?: readonly FilterCondition[], scope?: string): string {
  let sql = '';
  for (const [dim, value] of Object.entries(filters ?? {})) {
    if (value === undefined) continue;
    if (!DIMENSIONS.includes(dim as Dimension)) throw new UnsupportedQueryError(`unknown filter dimension "${dim}"`);
    sql += ` AND ${DIMENSION_COLUMNS[dim as Dimension]} = ${quoteString(value)}`;
  }
  for (const c of conditions ?? []) {
    const values = conditionValues(c);
    const condition = (column: string) => conditionSqlOf(c, column, (j) => quoteString(values[j]!), (col, v) => `position(${col}, ${v}) > 0`, (col, v) => `match(${col}, ${v})`);
    if (isVisitPageDimension(c.dimension)) {
      // The visits whose first (last) human page view of the range (`scope`: its events, before the filters) passes; ties in time by path.
      if (scope === undefined) throw new UnsupportedQueryError(`a filter on ${c.dimension} needs the range's events`);
      const pick = VISIT_PAGE[c.dimension === 'entry_page' ? 'entry' : 'exit'];
      sql += ` AND session_id IN (SELECT session_id ${scope} AND type = 'pageview' AND is_bot = 0 GROUP BY session_id HAVING ${condition(pick)})`;
      continue;
    }
    if (!isPropDimension(c.dimension) && !DIMENSIONS.includes(c.dimension)) throw new UnsupportedQueryError(`unknown filter dimension "${c.dimension}"`);
    sql += ` AND ${condition(columnSql(c.dimension))}`;
  }
  return sql;
}

const FIXED_MS: Partial<Record<Grain, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/**
 * The search window of a zone's bucket starts: an event's index among the starts is estimated
 * from the grain's mean length (a local hour lasts 0.5 to 2 hours around a DST change, a local day
 * 23 to 25 hours, a month 28 to 31 days), and the true index lies within `before` of the estimate
 * (views.sql.test.ts checks it over years of changes in zones with odd offsets), so each event
 * compares with `size` starts instead of all of them.
 */
export const ZONE_WINDOW = { before: 3, size: 7, meanMs: { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000, month: 2_629_746_000 } as Record<Grain, number> };

/** The 1-based estimate of ZONE_WINDOW, as the SQL computes it (for the test). */
export function estimatedIndex(t: number, firstStart: number, grain: Grain): number {
  return Math.floor((t - firstStart) / ZONE_WINDOW.meanMs[grain]) + 1;
}

/** A bucket expression and the `WITH` prelude of its constants ('' when none). */
export interface BucketSql {
  prelude: string;
  expr: string;
}

/**
 * The bucket start of an event: a fixed-length UTC bucket by integer division, or else the last
 * of `bounds` (the zone's bucket starts, core/calendar.ts, sorted; the first at or before every
 * event of the query) at or before the event, searched within ZONE_WINDOW.
 */
export function bucketSql(grain: Grain, utc: boolean, bounds: readonly number[]): BucketSql {
  const fixed = FIXED_MS[grain];
  if (fixed !== undefined && (utc || grain === 'minute')) return { prelude: '', expr: `intDiv(event_ms, ${fixed}) * ${fixed}` };
  if (bounds.length === 0) return { prelude: '', expr: 'toInt64(0)' };
  const prelude = `WITH [${bounds.map(msLiteral).join(', ')}] AS bounds`;
  const { before, size, meanMs } = ZONE_WINDOW;
  const lo = `greatest(toInt64(1), toInt64(intDiv(event_ms - ${msLiteral(bounds[0]!)}, ${meanMs[grain]})) + ${1 - before})`;
  return { prelude, expr: `toInt64(arrayElement(bounds, ${lo} - 1 + arrayCount(b -> b <= event_ms, arraySlice(bounds, ${lo}, ${size}))))` };
}

/**
 * Two-level rollup over `source` (a table expression of view events): per bucket × session, then
 * per bucket. `eventName` restricts `events` to one custom-event name.
 */
export function rollupSql(source: string, bucket: BucketSql, currency: string, eventName: string | undefined): string {
  const custom = eventName === undefined ? `type = 'custom'` : `type = 'custom' AND event_name = ${quoteString(eventName)}`;
  return `SELECT bucket,
    sumIf(pv, is_bot = 0) AS pageviews,
    uniqExactIf(visitor_id, is_bot = 0) AS visitors,
    uniqExactIf(session_id, is_bot = 0) AS sessions,
    sumIf(ce, is_bot = 0) AS events,
    sumIf(pu, is_bot = 0) AS purchases,
    sumIf(rev, is_bot = 0) AS revenue_micros,
    countIf(is_bot = 0 AND pv <= 1) AS bounces,
    sumIf(span_ms, is_bot = 0) AS duration_ms,
    sumIf(pv, is_bot = 1) AS bot_pageviews
  FROM (
    ${bucket.prelude} SELECT ${bucket.expr} AS bucket, session_id, visitor_id, is_bot,
      countIf(type = 'pageview') AS pv,
      countIf(${custom}) AS ce,
      countIf(type = 'purchase') AS pu,
      sumIf(revenue_micros, type = 'purchase' AND currency = ${quoteString(currency)}) AS rev,
      max(event_ms) - min(event_ms) AS span_ms
    FROM ${source}
    GROUP BY bucket, session_id, visitor_id, is_bot
  )
  GROUP BY bucket`;
}

/**
 * Per-value metrics of one dimension over `source` (page views are not event names): pageviews,
 * visitors, events and `revenue` (an alias apart from the column, which ClickHouse would otherwise
 * take for the alias). Revenue sums the reporting currency only, except by currency, where each
 * row is its own currency's.
 */
export function breakdownSql(source: string, dimension: AnyDimension, currency: string): string {
  const col = columnSql(dimension);
  const where = dimension === 'event_name' ? `WHERE type != 'pageview'` : '';
  const inCurrency = dimension === 'currency' ? '' : ` AND currency = ${quoteString(currency)}`;
  return `SELECT ${col} AS value,
      countIf(type = 'pageview' AND is_bot = 0) AS pageviews,
      uniqExactIf(visitor_id, is_bot = 0) AS visitors,
      countIf(type = 'custom' AND is_bot = 0) AS events,
      sumIf(revenue_micros, type = 'purchase' AND is_bot = 0${inCurrency}) AS revenue
    FROM ${source} ${where} GROUP BY ${col}`;
}

/** Per-combination metrics of several dimensions over `source` (breakdownSql's definitions), the values as columns v0, v1…. */
export function multiBreakdownSql(source: string, dimensions: readonly AnyDimension[], currency: string): string {
  const cols = dimensions.map(columnSql);
  const where = dimensions.includes('event_name') ? `WHERE type != 'pageview'` : '';
  const inCurrency = dimensions.includes('currency') ? '' : ` AND currency = ${quoteString(currency)}`;
  return `SELECT ${cols.map((c, i) => `${c} AS v${i}`).join(', ')},
      countIf(type = 'pageview' AND is_bot = 0) AS pageviews,
      uniqExactIf(visitor_id, is_bot = 0) AS visitors,
      countIf(type = 'custom' AND is_bot = 0) AS events,
      sumIf(revenue_micros, type = 'purchase' AND is_bot = 0${inCurrency}) AS revenue
    FROM ${source} ${where} GROUP BY ${cols.join(', ')}`;
}
