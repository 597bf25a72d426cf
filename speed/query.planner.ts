/**
 * Decides how the speed store answers a query, or that it cannot (UnsupportedQueryError, so
 * serving marks those buckets missing with the reason). Pure functions: no Redis here.
 *
 * What the store keeps decides what it answers:
 * - counts, purchases and revenue under any combination of country, device, browser, os, the UTM
 *   tags, channel, event_name and currency filters (per-minute tuple counters, Druid-style); revenue
 *   in the query's reporting currency only (purchase and revenue tuples carry their currency);
 * - page views of one page or one referrer host (per-minute sorted sets), without other filters;
 * - visitors unfiltered or with exactly one of country/device or a custom event name
 *   (per-value HyperLogLogs); sessions unfiltered only;
 * - bounce_rate and visit_duration unfiltered only, from the per-minute visit hashes (each
 *   visit's first and last event and page views per minute, merged per bucket).
 * Filter conditions (is, is_not, contains, contains_not with several values) work wherever the
 * equality filter of their dimension does: on tuple values as a predicate, on a page or referrer
 * set by summing or scanning its members, on visitor sketches by uniting the matching values'.
 */
import { conditionMatches, isFiltered, isPropDimension, isVisitPageDimension, MISSING_LABEL, UnsupportedQueryError, type Dimension, type FilterCondition, type Filters, type Metric } from '../core/views.ts';
import { AGG, CURRENCY_INDEX, HLL_DIMS, KIND, NAME_SKETCH_DIM, TUPLE_DIMS, type TupleDim } from './redis.keys.ts';

/** The event name page views carry (the collector names them so). */
const KIND_PAGEVIEW_NAME = 'pageview';

/** Metrics kept as counters: aggregate field and tuple kind. */
export const COUNTER_METRICS: Partial<Record<Metric, { agg: string; kind: string }>> = {
  pageviews: { agg: AGG.pageviews, kind: KIND.pageview },
  events: { agg: AGG.events, kind: KIND.custom },
  purchases: { agg: AGG.purchases, kind: KIND.purchase },
  revenue: { agg: AGG.revenue, kind: KIND.revenue },
  bot_pageviews: { agg: AGG.botPageviews, kind: KIND.botPageview },
};
export const SKETCH_METRICS: readonly Metric[] = ['visitors', 'sessions'];
/** Most page or referrer sets × condition values one query scans member by member (a condition other than `is`). */
export const MAX_SCANNED_SETS = 2_000;
/** Most per-value visitor sketches (minutes × values) one query unites: a week of minutes of ten values. */
export const MAX_VALUE_SKETCHES = 100_000;
/** Metrics computed from the per-minute visit hashes (contract 9's visits), unfiltered only. */
export const VISIT_METRICS: readonly Metric[] = ['bounce_rate', 'visit_duration'];

/** Refuses visit metrics under filters: the visit hashes are per site, not per dimension value. */
export function checkVisitMetrics(metrics: readonly Metric[], filtersIn: Filters | undefined, conditions?: readonly FilterCondition[]): boolean {
  if (!metrics.some((m) => VISIT_METRICS.includes(m))) return false;
  if (isFiltered(filtersIn, conditions)) throw new UnsupportedQueryError(`speed keeps bounce rate and visit duration without filters only (asked: ${describe(activeFilters(filtersIn), conditions)})`);
  return true;
}

export type CounterMode =
  | { kind: 'aggregate' }
  | { kind: 'tuples'; match: TupleMatch }
  | { kind: 'zset'; set: 'pages' | 'referrers'; member: string }
  /** Page views of the pages (referrers) passing a condition: its members summed or scanned per key. */
  | { kind: 'zsetMatch'; set: 'pages' | 'referrers'; condition: FilterCondition };

export interface TupleMatch {
  /** Tuple dimension index → required value. */
  dims: [number, string][];
  /** Tuple dimension index → condition its value passes. */
  conditions?: [number, FilterCondition][];
  /** Conditions the event name passes (filter event_name). */
  nameConditions?: FilterCondition[];
  /** Required event name for every kind (filter event_name). */
  name?: string;
  /** Required event name for custom events only (query eventName). */
  customName?: string;
  /** The one currency revenue tuples are summed in (the query's reporting currency, contract 10). */
  revenueCurrency?: string;
}

function describe(filters: Filters, conditions: readonly FilterCondition[] = []): string {
  return [...Object.entries(filters).map(([k, v]) => `${k}=${v}`), ...conditions.map((c) => `${c.dimension} ${c.op} ${c.values.join('|')}`)].join('&');
}

/**
 * Custom properties are kept per key apart from the dimension tuples (speed/README.md), so the store
 * takes no condition on one: the conditions, every one on a fixed dimension.
 */
export function fixedConditions(conditions: readonly FilterCondition[], filters: Filters = {}): readonly (FilterCondition & { dimension: Dimension })[] {
  const prop = conditions.find((c) => isPropDimension(c.dimension));
  if (prop) throw new UnsupportedQueryError(`speed keeps custom properties apart from the dimension tuples, so it takes no filter on one (asked: ${describe(activeFilters(filters), conditions)})`);
  const visitPage = conditions.find((c) => isVisitPageDimension(c.dimension));
  if (visitPage) throw new UnsupportedQueryError(`speed keeps no pages per visit, so no filter on a visit's ${visitPage.dimension === 'entry_page' ? 'entry' : 'exit'} page (asked: ${describe(activeFilters(filters), conditions)})`);
  return conditions as readonly (FilterCondition & { dimension: Dimension })[];
}

function activeFilters(filters: Filters | undefined): Filters {
  const out: Filters = {};
  for (const [k, v] of Object.entries(filters ?? {})) if (v !== undefined) out[k as Dimension] = v;
  return out;
}

/** How counter metrics are read under these filters and conditions; revenue in `currency` only, when given. */
export function counterMode(metrics: readonly Metric[], filtersIn: Filters | undefined, eventName?: string, currency?: string, anyConditions: readonly FilterCondition[] = []): CounterMode {
  const filters = activeFilters(filtersIn);
  const conditions = fixedConditions(anyConditions, filters);
  const keys = Object.keys(filters) as Dimension[];
  const zsetFilter = keys.find((k) => k === 'page' || k === 'referrer') ?? conditions.find((c) => c.dimension === 'page' || c.dimension === 'referrer')?.dimension;
  if (zsetFilter) {
    const others = metrics.filter((m) => COUNTER_METRICS[m] && m !== 'pageviews');
    if (keys.length + conditions.length > 1 || others.length > 0) {
      throw new UnsupportedQueryError(`speed keeps per-${zsetFilter} page views only, without other filters or metrics (asked: ${describe(filters, conditions)}; ${metrics.join(',')})`);
    }
    const set = zsetFilter === 'page' ? 'pages' : 'referrers';
    return keys.length === 1 ? { kind: 'zset', set, member: filters[zsetFilter]! } : { kind: 'zsetMatch', set, condition: conditions[0]! };
  }
  if (keys.length === 0 && conditions.length === 0 && eventName === undefined) return { kind: 'aggregate' };
  const match: TupleMatch = { dims: [] };
  for (const k of keys) {
    if (k === 'event_name') match.name = filters.event_name!;
    else match.dims.push([tupleIndex(k), filters[k]!]);
  }
  for (const c of conditions) {
    if (c.dimension === 'event_name') (match.nameConditions ??= []).push(c);
    else (match.conditions ??= []).push([tupleIndex(c.dimension), c]);
  }
  if (currency !== undefined) match.revenueCurrency = currency;
  if (eventName !== undefined) match.customName = eventName;
  return { kind: 'tuples', match };
}

function tupleIndex(d: Dimension): number {
  return d === 'currency' ? CURRENCY_INDEX : TUPLE_DIMS.indexOf(d as TupleDim);
}

export function matchesTuple(match: TupleMatch, kind: string, name: string, dims: readonly string[]): boolean {
  if (match.name !== undefined && name !== match.name) return false;
  if (match.customName !== undefined && kind === KIND.custom && name !== match.customName) return false;
  for (const [i, v] of match.dims) if ((dims[i] ?? MISSING_LABEL.currency) !== v) return false;
  if (match.conditions) for (const [i, c] of match.conditions) if (!conditionMatches(c, dims[i] ?? MISSING_LABEL.currency)) return false;
  if (match.nameConditions) for (const c of match.nameConditions) if (!conditionMatches(c, name)) return false;
  if (match.revenueCurrency !== undefined && kind === KIND.revenue && dims[CURRENCY_INDEX] !== match.revenueCurrency) return false;
  return true;
}

/**
 * Which visitor sketches answer `visitors` (and `sessions`) under these filters and conditions:
 * undefined for the site-wide sketch; else the one dimension with per-value sketches every
 * constraint is on, and which of its values pass (`values` when they are known without reading
 * the minute's index of values, `passes` for every value found there).
 */
export interface SketchChoice {
  dimension: Dimension;
  values?: readonly string[];
  passes: (value: string) => boolean;
}

export function sketchFor(metric: 'visitors' | 'sessions', filtersIn: Filters | undefined, anyConditions: readonly FilterCondition[] = []): SketchChoice | undefined {
  const filters = activeFilters(filtersIn);
  const conditions = fixedConditions(anyConditions, filters);
  const keys = Object.keys(filters) as Dimension[];
  if (keys.length === 0 && conditions.length === 0) return undefined;
  const dims = new Set<Dimension>([...keys, ...conditions.map((c) => c.dimension)]);
  const [dim] = dims;
  const passes = (v: string) => (filters[dim!] === undefined || filters[dim!] === v) && conditions.every((c) => conditionMatches(c, v));
  // Event-name sketches hold custom events' and purchases' visitors: none for page views' `pageview`.
  const byName = dim === NAME_SKETCH_DIM && !passes(KIND_PAGEVIEW_NAME);
  if (metric === 'visitors' && dims.size === 1 && ((HLL_DIMS as readonly string[]).includes(dim!) || byName)) {
    const is = filters[dim!] !== undefined ? [filters[dim!]!] : conditions.find((c) => c.op === 'is')?.values;
    return { dimension: dim!, passes, ...(is ? { values: is.filter(passes) } : {}) };
  }
  throw new UnsupportedQueryError(
    metric === 'sessions'
      ? `speed keeps session sketches without filters only (asked: ${describe(filters, conditions)})`
      : `speed keeps visitor sketches per single ${HLL_DIMS.join("/")} value or custom event name only, so visitors take filters on one of those alone (asked: ${describe(filters, conditions)})`,
  );
}

export { activeFilters };
