/**
 * The read contract the serving layer merges (contract 7). The speed store (Redis) and the
 * batch-view store (DuckDB/Parquet) both implement `ViewReader`; serving never reaches past it.
 * Times are epoch milliseconds; ranges are half-open [from, to); series buckets are cut in the
 * query's time zone (`zone`, core/calendar.ts).
 *
 * Two conventions every implementation shares, so both sides of W add up and a value is one row:
 * - `revenue` sums the purchases in the query's reporting currency only (reportingCurrency(), contract
 *   10: never summed across currencies); a breakdown by `currency` gives each currency its own sum.
 * - `revenue` is in integer micro-units of the currency (1 unit = 1,000,000 micros), exact: the
 *   event carries `revenue_micros`, every store sums integers, and only the HTTP edge presents
 *   currency units (microsToUnits). No reader converts.
 * - a missing dimension value is named by labelOf() (MISSING_LABEL), in stored rows, filters and
 *   breakdown rows alike. `views.contract.ts` checks both against every implementation.
 */
import { Calendar, type CalendarGrain } from './calendar.ts';
import { TwinlaneError } from './errors.ts';
import { FALLBACK_CHANNEL } from './channels.ts';

export type Grain = CalendarGrain;
export const GRAINS: readonly Grain[] = ['minute', 'hour', 'day', 'week', 'month'];
/**
 * A grain's nominal length, for limits (how many buckets a range makes) only: a local day lasts
 * 23 to 25 hours and a month 28 to 31 days. Bucket edges come from core/calendar.ts.
 */
export const GRAIN_MS: Record<Grain, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000, month: 28 * 86_400_000 };

export const METRICS = ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue', 'bounce_rate', 'visit_duration', 'bot_pageviews'] as const;
export type Metric = (typeof METRICS)[number];

/**
 * `events` counts custom events; with `eventName` set it counts only that name. The UTM tags and the
 * channel (core/channels.ts: from the referrer and the tags) are the event's own, like its referrer.
 */
export const DIMENSIONS = ['page', 'referrer', 'country', 'device', 'browser', 'os', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'channel', 'event_name', 'currency'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/**
 * A custom property as a dimension (`event:props:<key>` in the API): `prop:<key>`, the value of
 * the event's property `key` (the collector keeps up to 50 per event, names up to 100 characters).
 * Serving takes only the keys a site lists (core/sites.ts `properties`); batch answers them exactly
 * from the day's events, the speed store keeps each listed key's values per minute and hour with
 * SPEED_MAX_MEMBERS values each (`(other)` beyond).
 */
export type PropDimension = `prop:${string}`;
/**
 * A visit's entry or exit page as a filter condition (`visit:entry_page`): an event passes when its
 * visit's first (last) human page view within the query's range has a page passing the condition
 * (ties in time: the smaller, the larger path). A visit without a human page view in the range has
 * no entry page and passes no such condition. Breakdowns by them use BreakdownQuery.visitPage.
 */
export type VisitPageDimension = 'entry_page' | 'exit_page';
/** A dimension of a breakdown or a filter condition: a fixed one, a custom property, or (conditions only) a visit's entry or exit page. */
export type AnyDimension = Dimension | PropDimension | VisitPageDimension;

export function isVisitPageDimension(d: string): d is VisitPageDimension {
  return d === 'entry_page' || d === 'exit_page';
}
/** The row a store with a cap on values (speed: SPEED_MAX_MEMBERS per key and minute) counts the values past it under. */
export const OTHER_VALUE = '(other)';

/** The label of an event without the property (every store answers it so). */
export const MISSING_PROPERTY_LABEL = '(none)';

export function isPropDimension(d: string): d is PropDimension {
  return d.startsWith('prop:');
}

/** The property key of `prop:<key>`. */
export function propKeyOf(d: PropDimension): string {
  return d.slice(5);
}

/** labelOf() for any dimension: a property missing or empty is MISSING_PROPERTY_LABEL. */
export function labelOfAny(dimension: Dimension | PropDimension, value: string | null | undefined): string {
  if (isPropDimension(dimension)) return value === null || value === undefined || value === '' ? MISSING_PROPERTY_LABEL : value;
  return labelOf(dimension, value);
}

/** Equality filters, combinable: `{ country: 'DE', device: 'mobile' }`. */
export type Filters = Partial<Record<Dimension, string>>;

/**
 * Filter operators beyond one equal value (Plausible v2's names). Values are the contract's labels
 * (labelOf), so `(unknown)` is a value like any other; `contains` is a case-sensitive substring of
 * the label. Several values of one condition are ORed; conditions and `filters` are ANDed.
 */
export const FILTER_OPERATORS = ['is', 'is_not', 'contains', 'contains_not'] as const;
/**
 * `matches` (goals' page paths, not an API operator): a value is a wildcard pattern, `*` standing
 * for any run of characters, and the whole label must match one of them.
 */
export type FilterOperator = (typeof FILTER_OPERATORS)[number] | 'matches';

export interface FilterCondition {
  op: FilterOperator;
  dimension: AnyDimension;
  /** At least one; ORed (for `is_not` / `contains_not`: none of them). */
  values: readonly string[];
}

/** Whether a query has any filter at all (equality filters or conditions). */
export function isFiltered(filters: Filters | undefined, conditions?: readonly FilterCondition[]): boolean {
  return Object.values(filters ?? {}).some((v) => v !== undefined) || (conditions?.length ?? 0) > 0;
}

/** A wildcard pattern (`*`: any run of characters) as an anchored regular expression, in the syntax JS, DuckDB and RE2 share. */
export function wildcardRegex(pattern: string): string {
  return `^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`;
}

const compiled = new Map<string, RegExp>();
function wildcard(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    if (compiled.size > 1_000) compiled.clear();
    compiled.set(pattern, (re = new RegExp(wildcardRegex(pattern))));
  }
  return re;
}

/** The values of a condition as a store binds them: `matches` patterns as regular expressions (wildcardRegex). */
export function conditionValues(c: FilterCondition): string[] {
  return c.op === 'matches' ? c.values.map(wildcardRegex) : [...c.values];
}

/** Whether a labelled value passes a condition (the stores that filter in this process use it). */
export function conditionMatches(c: FilterCondition, value: string): boolean {
  if (c.op === 'matches') return c.values.some((p) => wildcard(p).test(value));
  const hit = c.op === 'is' || c.op === 'is_not' ? c.values.includes(value) : c.values.some((v) => value.includes(v));
  return c.op === 'is' || c.op === 'contains' ? hit : !hit;
}

export interface RangeQuery {
  site: string;
  from: number;
  to: number;
  /**
   * The store's coverage of `site` as the caller planned with it (serving/range.planner.ts read it
   * for this request): a reader that reads its own takes this instead, so a query reads it once
   * and is cut from the coverage it was planned with. Absent: the reader reads it.
   */
  coverage?: Coverage;
  filters?: Filters;
  /** Filter conditions beyond equality, ANDed with `filters` (absent or empty: none). */
  conditions?: readonly FilterCondition[];
  /** Restricts `events` to one custom-event name. */
  eventName?: string;
  /**
   * The site's reporting currency (ISO 4217; core/sites.ts): `revenue` sums purchases in it only,
   * never across currencies (contract 10). Absent: DEFAULT_CURRENCY, as a site without one.
   */
  currency?: string;
  /**
   * The site's IANA time zone (core/sites.ts): series buckets from hour grain up start at its
   * local hours, midnights, Mondays and 1sts (core/calendar.ts). Absent: UTC.
   */
  zone?: string;
}

/** The calendar a query's buckets are cut in. */
export function calendarOf(q: { zone?: string | undefined }): Calendar {
  return Calendar.of(q.zone ?? 'UTC');
}

/** The reporting currency of a site whose sites-file entry names none, and of a query without one. */
export const DEFAULT_CURRENCY = 'USD';

/** The currency a query's `revenue` is summed in. */
export function reportingCurrency(q: { currency?: string | undefined }): string {
  return q.currency ?? DEFAULT_CURRENCY;
}

export interface SeriesQuery extends RangeQuery {
  grain: Grain;
  metrics: Metric[];
}

export interface TotalsQuery extends RangeQuery {
  metrics: Metric[];
}

/**
 * A breakdown by `currency` (purchases' ISO 4217 code; every other event is MISSING_LABEL.currency)
 * ranked by `revenue` gives each currency's own sum in its own micros: the one place revenue of a
 * currency other than the reporting one is answered.
 */
export interface BreakdownQuery extends RangeQuery {
  dimension: AnyDimension;
  /**
   * A breakdown by several dimensions (2 to MAX_BREAKDOWN_DIMENSIONS, `dimension` first): one row
   * per combination of values, `values` holding them and `value` their breakdownKey.
   */
  dimensions?: readonly AnyDimension[];
  /**
   * With `dimension: 'page'` alone: rank visits' entry (exit) pages, each event counting under its
   * visit's first (last) page view's page within the range (ties in time: the smaller, the larger
   * path), human visits with a page view only. Entry pages are computed before the query's filters.
   */
  visitPage?: 'entry' | 'exit';
  /** Ranking metric. */
  metric: 'pageviews' | 'visitors' | 'events' | 'revenue';
  limit: number;
}

export type MetricValues = Partial<Record<Metric, number>>;

export interface SeriesPoint {
  /** Bucket start (epoch ms): a UTC minute, or the first instant of a local hour, day, week or month in the query's zone. */
  start: number;
  /** A metric the store cannot answer for this bucket is absent, never 0. */
  values: MetricValues;
  /**
   * Set when the store covers the bucket but a retention tier no longer holds what answers it
   * (core/retention.ts: a minute series past RETENTION_VIEWS_MINUTE): `values` is empty and this
   * says why; serving answers the bucket `missing` with it, never a zero.
   */
  missing?: string;
}

export interface BreakdownRow {
  /** The dimension value, or its MISSING_LABEL; by several dimensions, breakdownKey(values). */
  value: string;
  /** By several dimensions: each dimension's value, in the query's order. */
  values?: readonly string[];
  /** In the ranking metric's unit (revenue: micros). */
  count: number;
}

/** Most dimensions of one breakdown. */
export const MAX_BREAKDOWN_DIMENSIONS = 3;

/** The dimensions a breakdown groups by: `dimensions` when given, else `dimension` alone. */
export function breakdownDimensions(q: Pick<BreakdownQuery, 'dimension' | 'dimensions'>): readonly AnyDimension[] {
  return q.dimensions && q.dimensions.length > 1 ? q.dimensions : [q.dimension];
}

/** The one key of a combination of values, the same in every store, so rows of both sides of W add up. */
export function breakdownKey(values: readonly string[]): string {
  return JSON.stringify(values);
}

/** What a store holds for a site: [from, to) in event time, at minute precision. */
export interface Coverage {
  from: number;
  to: number;
}

export interface ViewReader {
  readonly source: 'batch' | 'speed';
  /** Whether its numbers are exact (batch) or carry sketch error for uniques (speed). */
  readonly exact: boolean;
  /** The span this store can answer for `site`; buckets outside it are "missing". */
  coverage(site: string): Promise<Coverage | null>;
  /** One point per bucket of [from, to) inside coverage, zero-valued buckets included. */
  series(q: SeriesQuery): Promise<SeriesPoint[]>;
  /** Totals over the range; `visitors` and `sessions` are distinct over the whole range, never summed. */
  totals(q: TotalsQuery): Promise<MetricValues>;
  /** Rows with a count above 0, highest first (ties in no promised order), at most `limit`. */
  breakdown(q: BreakdownQuery): Promise<BreakdownRow[]>;
}

/**
 * The batch watermark W (contract 5): the end of the last complete day the current batch
 * version covers, or null before the first batch run. Implemented by batch/ over its pointer.
 */
export interface WatermarkSource {
  watermark(): Promise<number | null>;
}

/** Ordered funnel step: a page path or a custom-event name. */
export interface FunnelStep {
  kind: 'page' | 'event';
  value: string;
}

export interface FunnelQuery {
  site: string;
  from: number;
  to: number;
  steps: FunnelStep[];
  filters?: Filters;
  conditions?: readonly FilterCondition[];
}

/** Visitors that reached step i (having passed steps 0..i-1 in order, within one session). */
export interface FunnelStepResult {
  step: FunnelStep;
  visitors: number;
}

/** A query a store cannot answer (e.g. a filter combination it keeps no rollup for). */
export class UnsupportedQueryError extends TwinlaneError {
  constructor(message: string) {
    super('UNSUPPORTED_BY_SOURCE', message, { retriable: false });
  }
}

/** Micro-units per currency unit: the contract's revenue unit is 1 / REVENUE_MICROS_PER_UNIT. */
export const REVENUE_MICROS_PER_UNIT = 1_000_000;

/**
 * The contract's revenue (integer micros) in currency units, as the HTTP API presents it: exactly
 * micros / 10^6, no rounding to cents, since an event may carry up to 6 decimals and one division
 * of an integer is as close as a double gets.
 */
export function microsToUnits(micros: number): number {
  return micros / REVENUE_MICROS_PER_UNIT;
}

/**
 * The label of a missing value per dimension. A referrer that is missing means the visit came
 * directly and a missing UTM tag means an untagged link, so those read as what they mean; every
 * event has a channel (a missing one could only come from data computed without it, and reads as
 * the rule table's fallback); anything else that is missing is simply not known.
 */
export const MISSING_LABEL: Readonly<Record<Dimension, string>> = {
  page: '(unknown)',
  referrer: '(direct)',
  country: '(unknown)',
  device: '(unknown)',
  browser: '(unknown)',
  os: '(unknown)',
  utm_source: '(none)',
  utm_medium: '(none)',
  utm_campaign: '(none)',
  utm_term: '(none)',
  utm_content: '(none)',
  channel: FALLBACK_CHANNEL,
  event_name: '(unknown)',
  currency: '(none)',
};

/**
 * Stored values that mean "missing" besides null. The empty string never carries a value; and the
 * collector's user-agent parser stores `unknown` as device type when it cannot tell one
 * (`device_type` is a required string in the event schema, so it cannot be null there), which
 * would otherwise show as a second missing-device row. The batch SQL is built from this table.
 */
export const MISSING_VALUES: Readonly<Record<Dimension, readonly string[]>> = {
  page: [''],
  referrer: [''],
  country: [''],
  device: ['', 'unknown'],
  browser: [''],
  os: [''],
  utm_source: [''],
  utm_medium: [''],
  utm_campaign: [''],
  utm_term: [''],
  utm_content: [''],
  channel: [''],
  event_name: [''],
  currency: [''],
};

/**
 * A dimension value as every store keeps and answers it: the value itself, or the dimension's
 * MISSING_LABEL when it is null or one of MISSING_VALUES. The speed path calls it per event and
 * dimension, so it stays a lookup and a comparison or two.
 */
export function labelOf(dimension: Dimension, value: string | null | undefined): string {
  if (value === null || value === undefined || MISSING_VALUES[dimension].includes(value)) return MISSING_LABEL[dimension];
  return value;
}

/** Start of the bucket holding `t`, in `zone` (default UTC). */
export function alignDown(t: number, grain: Grain, zone?: string): number {
  return Calendar.of(zone ?? 'UTC').floor(t, grain);
}
