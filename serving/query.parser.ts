/**
 * Turns the query endpoint's JSON body (Plausible Stats API v2 style) and the simple GET
 * aliases' parameters into one validated `StatsQuery`. Every rejection is a 400 whose
 * message names the parameter, the value and what is expected. Filter values are checked
 * against the shape their dimension can have, on top of the stores binding them as parameters.
 */
import { z } from 'zod';
import { DIMENSIONS, GRAIN_MS, GRAINS, METRICS, MISSING_LABEL, type Dimension, type Filters, type Grain, type Metric } from '../core/views.ts';
import { Calendar, LocalTimeError } from '../core/calendar.ts';
import { badRequest } from './api.errors.ts';
import type { ServingOptions } from './options.ts';
import type { FunnelStep, SourceChoice } from './types.ts';

export const BREAKDOWN_METRICS = ['pageviews', 'visitors', 'events', 'revenue'] as const;
export type BreakdownMetric = (typeof BREAKDOWN_METRICS)[number];
export { GRAINS } from '../core/views.ts';

export interface StatsQuery {
  site: string;
  kind: 'series' | 'totals' | 'breakdown';
  metrics: Metric[];
  from: number;
  to: number;
  grain?: Grain;
  dimension?: Dimension;
  filters: Filters;
  eventName?: string;
  limit: number;
  offset: number;
  source: SourceChoice;
  compare: boolean;
  /** The site's reporting currency (core/sites.ts), filled in by the routes: `revenue` sums it only. */
  currency?: string;
  /** The site's IANA time zone (core/sites.ts): date ranges and buckets are local to it. */
  zone: string;
}

/** Plausible's prefixed names map onto ours; bare names work too. */
const DIMENSION_ALIASES: Record<string, Dimension> = {
  'event:page': 'page',
  'event:name': 'event_name',
  'visit:source': 'referrer',
  'visit:referrer': 'referrer',
  'visit:country': 'country',
  'visit:device': 'device',
  'visit:browser': 'browser',
  'visit:os': 'os',
  'visit:utm_source': 'utm_source',
};

const FILTER_SHAPES: Record<Dimension, { re: RegExp; expected: string }> = {
  page: { re: /^\/[^\s'"`;<>\\{}]{0,1023}$/, expected: 'a URL path starting with / (no spaces, quotes or semicolons)' },
  referrer: { re: /^(\(direct\)|[a-z0-9.-]{1,253})$/i, expected: 'a host name such as www.google.com, or (direct)' },
  country: { re: /^([A-Z]{2}|\(unknown\))$/, expected: 'a two-letter country code such as DE' },
  device: { re: /^(desktop|mobile|tablet|bot)$/, expected: 'one of desktop, mobile, tablet, bot' },
  browser: { re: /^[A-Za-z0-9 ._()-]{1,64}$/, expected: 'a browser name such as Chrome (letters, digits, spaces, . _ - ( ))' },
  os: { re: /^[A-Za-z0-9 ._()-]{1,64}$/, expected: 'an OS name such as Android (letters, digits, spaces, . _ - ( ))' },
  utm_source: { re: /^[A-Za-z0-9._~+-]{1,128}$|^\(none\)$/, expected: 'a UTM source such as newsletter (letters, digits, . _ ~ + -)' },
  event_name: { re: /^[A-Za-z0-9 _.:-]{1,64}$/, expected: 'an event name such as signup (letters, digits, spaces, _ . : -)' },
  currency: { re: /^([A-Z]{3}|\(none\))$/, expected: 'an ISO 4217 code such as EUR, or (none)' },
};

export function parseDimension(name: string, what = 'dimension'): Dimension {
  const d = DIMENSION_ALIASES[name] ?? name;
  if (!(DIMENSIONS as readonly string[]).includes(d)) throw badRequest(`${what} "${name}" is unknown; expected one of ${DIMENSIONS.join(', ')}`);
  return d as Dimension;
}

export function validateFilter(dimension: Dimension, raw: string): string {
  // Every store names a missing value (no country, no UTM source...) by the contract's label.
  if (raw === MISSING_LABEL[dimension]) return raw;
  const value = dimension === 'country' ? raw.toUpperCase() : raw;
  const shape = FILTER_SHAPES[dimension];
  if (!shape.re.test(value)) throw badRequest(`filter ${dimension}=${JSON.stringify(raw.slice(0, 100))} is not valid: expected ${shape.expected}, or ${MISSING_LABEL[dimension]} for a missing value`);
  return value;
}

export function parseMetrics(list: readonly string[]): Metric[] {
  if (list.length === 0) throw badRequest('metrics: at least one metric is needed');
  const out: Metric[] = [];
  for (const m of list) {
    if (!(METRICS as readonly string[]).includes(m)) throw badRequest(`metric "${m}" is unknown; expected one of ${METRICS.join(', ')}`);
    if (!out.includes(m as Metric)) out.push(m as Metric);
  }
  return out;
}

export function parseGrain(g: string): Grain {
  if (!(GRAINS as readonly string[]).includes(g)) throw badRequest(`grain "${g}" is unknown; expected one of ${GRAINS.join(', ')}`);
  return g as Grain;
}

const DAY = 86_400_000;
const RELATIVE = /^(\d{1,5})(m|h|d)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const LOCAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

/**
 * A bound in the site's zone: a local date (its first moment; an end date is inclusive, as in
 * Plausible), a local date-time without offset (one the clocks skip is refused), an ISO date-time
 * with zone, or epoch ms.
 */
export function parseInstant(text: string, what: 'from' | 'to', zone = 'UTC'): number {
  const cal = Calendar.of(zone);
  let t: number;
  try {
    if (DATE.test(text)) t = what === 'to' ? cal.next(cal.startOfDate(text), 'day') : cal.startOfDate(text);
    else if (LOCAL_DATETIME.test(text)) t = cal.instantOfLocal(text);
    else if (DATETIME.test(text)) t = Date.parse(text);
    else if (/^\d{10,13}$/.test(text)) t = Number(text);
    else throw badRequest(`${what}=${JSON.stringify(text.slice(0, 60))} is not a time: expected YYYY-MM-DD (a date in the site's zone), a date-time (2026-01-31T12:00, local; or with zone, 2026-01-31T12:00:00Z) or epoch milliseconds`);
  } catch (err) {
    if (err instanceof LocalTimeError) throw badRequest(`${what}=${JSON.stringify(text.slice(0, 60))}: ${err.message}`);
    throw err;
  }
  if (!Number.isFinite(t) || t < Date.UTC(2000, 0, 1) || t > Date.UTC(2200, 0, 1)) throw badRequest(`${what}=${JSON.stringify(text)} is not a valid date between 2000 and 2200`);
  return t;
}

/**
 * `Nd` (the last N days of the site's zone, today included: from the local midnight N − 1 days
 * back to now), `24h` and `30m` (rolling, up to now), `today` (since local midnight), or an
 * explicit [from, to] in the site's zone.
 */
export function parseDateRange(range: string | readonly [string, string], now: number, options: ServingOptions, zone = 'UTC'): { from: number; to: number } {
  const cal = Calendar.of(zone);
  let from: number;
  let to: number;
  // Ends at the end of the current second, so a repeated query has one key for that second.
  const end = Math.ceil(now / 1000) * 1000;
  if (typeof range === 'string') {
    const m = RELATIVE.exec(range);
    if (range === 'today' || range === 'day') [from, to] = [cal.floor(now, 'day'), end];
    else if (m && m[2] === 'd') {
      const n = Number(m[1]);
      if (n < 1) throw badRequest(`date_range "${range}" is empty: expected at least 1d`);
      const today = cal.localDate(now);
      const first = new Date(Date.parse(`${today}T00:00:00Z`) - (n - 1) * DAY).toISOString().slice(0, 10);
      [from, to] = [cal.startOfDate(first), end];
    }
    // Starts on a whole minute, so the batch part of a relative range keeps one cache key for a minute.
    else if (m) [from, to] = [Math.floor(now / 60_000) * 60_000 - Number(m[1]) * { m: 60_000, h: 3_600_000 }[m[2] as 'm' | 'h'], end];
    else throw badRequest(`date_range "${range.slice(0, 40)}" is not valid: expected 30m, 24h, 7d, today, or [from, to]`);
  } else {
    from = parseInstant(range[0], 'from', zone);
    to = parseInstant(range[1], 'to', zone);
  }
  if (from >= to) throw badRequest(`inverted or empty range: from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
  if (to - from > options.maxRangeMs) throw badRequest(`range of ${Math.ceil((to - from) / DAY)} days is too long; at most ${Math.floor(options.maxRangeMs / DAY)} days`);
  return { from, to };
}

/** The grain a series uses when none is given: at most a few hundred points. */
export function autoGrain(from: number, to: number): Grain {
  const span = to - from;
  return span <= 6 * 3_600_000 ? 'minute' : span <= 14 * DAY ? 'hour' : 'day';
}

export function checkBuckets(from: number, to: number, grain: Grain, options: ServingOptions): void {
  // Nominal lengths (a DST day has an hour more or less): a bound, counted before any bucket is cut.
  const buckets = Math.ceil((to - from) / GRAIN_MS[grain]);
  if (buckets > options.maxBuckets) {
    throw badRequest(`a range of ${Math.ceil((to - from) / DAY)} days at ${grain} grain is ${buckets} buckets; at most ${options.maxBuckets} are allowed: choose a coarser grain or a shorter range`);
  }
}

export function parseInt10(text: string | number | undefined, what: string, min: number, max: number, def: number): number {
  if (text === undefined || text === '') return def;
  const n = typeof text === 'number' ? text : /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`${what}=${JSON.stringify(text)} is not valid: expected a whole number from ${min} to ${max}`);
  return n;
}

export function parseSource(s: string | undefined): SourceChoice {
  if (s === undefined || s === '' || s === 'merged') return 'merged';
  if (s === 'batch' || s === 'speed') return s;
  throw badRequest(`source=${JSON.stringify(s.slice(0, 40))} is not valid: expected batch, speed or merged`);
}

/** `/,/pricing,event:signup`: page paths start with /, event names with `event:`. */
export function parseFunnelSteps(text: string | undefined, options: ServingOptions): FunnelStep[] {
  const parts = (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length < 2 || parts.length > options.maxFunnelSteps) throw badRequest(`steps: expected 2 to ${options.maxFunnelSteps} comma-separated steps (page paths such as /pricing, or event:signup)`);
  return parts.map((p) => (p.startsWith('event:') ? { kind: 'event', value: validateFilter('event_name', p.slice(6)) } : { kind: 'page', value: validateFilter('page', p) }));
}

const filterClause = z.tuple([z.string(), z.string(), z.union([z.string(), z.array(z.string())])]);
const bodySchema = z.strictObject({
  site_id: z.string().min(1),
  metrics: z.array(z.string()).min(1).max(METRICS.length),
  date_range: z.union([z.string(), z.tuple([z.string(), z.string()])]),
  dimensions: z.array(z.string()).max(1, 'at most one dimension per query').optional(),
  filters: z.array(filterClause).max(DIMENSIONS.length).optional(),
  order_by: z.array(z.tuple([z.string(), z.enum(['asc', 'desc'])])).max(1).optional(),
  pagination: z.strictObject({ limit: z.number().optional(), offset: z.number().optional() }).optional(),
  include: z.strictObject({ comparisons: z.strictObject({ mode: z.literal('previous_period') }).optional() }).optional(),
  source: z.string().optional(),
});

/** POST /api/v2/query. */
export function parseQueryBody(body: unknown, now: number, options: ServingOptions, zone = 'UTC'): StatsQuery {
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) {
    throw badRequest(`query body: ${parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')}`);
  }
  const b = parsed.data;
  const filters: Filters = {};
  for (const [op, dim, clauses] of b.filters ?? []) {
    if (op !== 'is') throw badRequest(`filter operator "${op}" is not supported; only "is" (equality)`);
    const values = Array.isArray(clauses) ? clauses : [clauses];
    if (values.length !== 1) throw badRequest(`filter on ${dim}: exactly one value is supported`);
    const d = parseDimension(dim, 'filter dimension');
    filters[d] = validateFilter(d, values[0]!);
  }
  const dim = b.dimensions?.[0];
  const order = b.order_by?.[0];
  if (order && order[1] === 'asc') throw badRequest('order_by: only descending order is supported (results are top-k)');
  return buildQuery({
    site: b.site_id,
    metrics: b.metrics,
    range: b.date_range,
    dimension: dim,
    filters,
    limit: b.pagination?.limit,
    offset: b.pagination?.offset,
    source: b.source,
    compare: b.include?.comparisons?.mode === 'previous_period',
    orderMetric: order?.[0],
  }, now, options, zone);
}

export interface QueryParts {
  site: string;
  metrics: readonly string[];
  range: string | readonly [string, string];
  /** `time`, `time:<grain>` or a dimension. */
  dimension?: string;
  filters: Filters;
  limit?: number | string;
  offset?: number | string;
  source?: string;
  compare: boolean;
  orderMetric?: string;
}

export function buildQuery(p: QueryParts, now: number, options: ServingOptions, zone = 'UTC'): StatsQuery {
  const metrics = parseMetrics(p.metrics);
  const { from, to } = parseDateRange(p.range, now, options, zone);
  const base = {
    site: p.site,
    zone,
    metrics,
    from,
    to,
    filters: p.filters,
    eventName: p.filters.event_name,
    limit: parseInt10(p.limit, 'limit', 1, options.maxLimit, 10),
    offset: parseInt10(p.offset, 'offset', 0, options.maxOffset, 0),
    source: parseSource(p.source),
    compare: p.compare,
  };
  if (p.dimension === undefined) return { ...base, kind: 'totals' };
  if (p.dimension === 'time' || p.dimension.startsWith('time:')) {
    const grain = p.dimension === 'time' ? autoGrain(from, to) : parseGrain(p.dimension.slice(5));
    checkBuckets(from, to, grain, options);
    return { ...base, kind: 'series', grain };
  }
  const dimension = parseDimension(p.dimension);
  if (metrics.length !== 1 || !(BREAKDOWN_METRICS as readonly string[]).includes(metrics[0]!)) {
    throw badRequest(`a breakdown ranks by one metric: expected exactly one of ${BREAKDOWN_METRICS.join(', ')}`);
  }
  if (p.orderMetric !== undefined && p.orderMetric !== metrics[0]) throw badRequest(`order_by: a breakdown is ordered by its metric (${metrics[0]})`);
  return { ...base, kind: 'breakdown', dimension };
}

/** The filters of a GET alias: any dimension given as a query parameter (`country=DE&device=mobile`). */
export function filtersFromParams(params: Record<string, unknown>): Filters {
  const filters: Filters = {};
  for (const d of DIMENSIONS) {
    const v = params[d];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw badRequest(`filter ${d}: give it once`);
    filters[d] = validateFilter(d, v);
  }
  return filters;
}
