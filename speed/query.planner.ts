/**
 * Decides how the speed store answers a query, or that it cannot (UnsupportedQueryError, so
 * serving marks those buckets missing with the reason). Pure functions: no Redis here.
 *
 * What the store keeps decides what it answers:
 * - counts, purchases and revenue under any combination of country, device, browser, os,
 *   utm_source, event_name and currency filters (per-minute tuple counters, Druid-style); revenue
 *   in the query's reporting currency only (purchase and revenue tuples carry their currency);
 * - page views of one page or one referrer host (per-minute sorted sets), without other filters;
 * - visitors unfiltered or with exactly one of country/device/browser/os/utm_source
 *   (per-value HyperLogLogs); sessions unfiltered only;
 * - bounce_rate and visit_duration unfiltered only, from the per-minute visit hashes (each
 *   visit's first and last event and page views per minute, merged per bucket).
 */
import { MISSING_LABEL, UnsupportedQueryError, type Dimension, type Filters, type Metric } from '../core/views.ts';
import { AGG, CURRENCY_INDEX, HLL_DIMS, KIND, TUPLE_DIMS, type TupleDim } from './redis.keys.ts';

/** Metrics kept as counters: aggregate field and tuple kind. */
export const COUNTER_METRICS: Partial<Record<Metric, { agg: string; kind: string }>> = {
  pageviews: { agg: AGG.pageviews, kind: KIND.pageview },
  events: { agg: AGG.events, kind: KIND.custom },
  purchases: { agg: AGG.purchases, kind: KIND.purchase },
  revenue: { agg: AGG.revenue, kind: KIND.revenue },
  bot_pageviews: { agg: AGG.botPageviews, kind: KIND.botPageview },
};
export const SKETCH_METRICS: readonly Metric[] = ['visitors', 'sessions'];
/** Metrics computed from the per-minute visit hashes (contract 9's visits), unfiltered only. */
export const VISIT_METRICS: readonly Metric[] = ['bounce_rate', 'visit_duration'];

/** Refuses visit metrics under filters: the visit hashes are per site, not per dimension value. */
export function checkVisitMetrics(metrics: readonly Metric[], filtersIn: Filters | undefined): boolean {
  if (!metrics.some((m) => VISIT_METRICS.includes(m))) return false;
  const filters = activeFilters(filtersIn);
  if (Object.keys(filters).length > 0) throw new UnsupportedQueryError(`speed keeps bounce rate and visit duration without filters only (asked: ${describe(filters)})`);
  return true;
}

export type CounterMode =
  | { kind: 'aggregate' }
  | { kind: 'tuples'; match: TupleMatch }
  | { kind: 'zset'; set: 'pages' | 'referrers'; member: string };

export interface TupleMatch {
  /** Tuple dimension index → required value. */
  dims: [number, string][];
  /** Required event name for every kind (filter event_name). */
  name?: string;
  /** Required event name for custom events only (query eventName). */
  customName?: string;
  /** The one currency revenue tuples are summed in (the query's reporting currency, contract 10). */
  revenueCurrency?: string;
}

function describe(filters: Filters): string {
  return Object.entries(filters).map(([k, v]) => `${k}=${v}`).join('&');
}

function activeFilters(filters: Filters | undefined): Filters {
  const out: Filters = {};
  for (const [k, v] of Object.entries(filters ?? {})) if (v !== undefined) out[k as Dimension] = v;
  return out;
}

/** How counter metrics are read under these filters; revenue in `currency` only, when given. */
export function counterMode(metrics: readonly Metric[], filtersIn: Filters | undefined, eventName?: string, currency?: string): CounterMode {
  const filters = activeFilters(filtersIn);
  const keys = Object.keys(filters) as Dimension[];
  const zsetFilter = keys.find((k) => k === 'page' || k === 'referrer');
  if (zsetFilter) {
    const others = metrics.filter((m) => COUNTER_METRICS[m] && m !== 'pageviews');
    if (keys.length > 1 || others.length > 0) {
      throw new UnsupportedQueryError(`speed keeps per-${zsetFilter} page views only, without other filters or metrics (asked: ${describe(filters)}; ${metrics.join(',')})`);
    }
    return { kind: 'zset', set: zsetFilter === 'page' ? 'pages' : 'referrers', member: filters[zsetFilter]! };
  }
  if (keys.length === 0 && eventName === undefined) return { kind: 'aggregate' };
  const match: TupleMatch = { dims: [] };
  for (const k of keys) {
    if (k === 'event_name') match.name = filters.event_name!;
    else match.dims.push([k === 'currency' ? CURRENCY_INDEX : TUPLE_DIMS.indexOf(k as TupleDim), filters[k]!]);
  }
  if (currency !== undefined) match.revenueCurrency = currency;
  if (eventName !== undefined) match.customName = eventName;
  return { kind: 'tuples', match };
}

export function matchesTuple(match: TupleMatch, kind: string, name: string, dims: readonly string[]): boolean {
  if (match.name !== undefined && name !== match.name) return false;
  if (match.customName !== undefined && kind === KIND.custom && name !== match.customName) return false;
  for (const [i, v] of match.dims) if ((dims[i] ?? MISSING_LABEL.currency) !== v) return false;
  if (match.revenueCurrency !== undefined && kind === KIND.revenue && dims[CURRENCY_INDEX] !== match.revenueCurrency) return false;
  return true;
}

/**
 * Which visitor sketch answers `visitors` (and `sessions`) under these filters: undefined for
 * the site-wide sketch, `<dim>:<value>` for a per-value sketch.
 */
export function sketchFor(metric: 'visitors' | 'sessions', filtersIn: Filters | undefined): string | undefined {
  const filters = activeFilters(filtersIn);
  const keys = Object.keys(filters) as Dimension[];
  if (keys.length === 0) return undefined;
  if (metric === 'visitors' && keys.length === 1 && (HLL_DIMS as readonly string[]).includes(keys[0]!)) return `${keys[0]}:${filters[keys[0]!]}`;
  throw new UnsupportedQueryError(
    metric === 'sessions'
      ? `speed keeps session sketches without filters only (asked: ${describe(filters)})`
      : `speed keeps visitor sketches per single ${HLL_DIMS.join('/')} value only (asked: ${describe(filters)})`,
  );
}

export { activeFilters };
