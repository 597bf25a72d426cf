/**
 * Turns the query endpoint's JSON body (Plausible Stats API v2 style) and the simple GET
 * aliases' parameters into one validated `StatsQuery`. Every rejection is a 400 whose
 * message names the parameter, the value and what is expected. Filter values are checked
 * against the shape their dimension can have, on top of the stores binding them as parameters.
 */
import { z } from 'zod';
import { DIMENSIONS, GRAIN_MS, GRAINS, MAX_BREAKDOWN_DIMENSIONS, METRICS, type AnyDimension, type Dimension, type FilterCondition, type Filters, type Grain, type Metric } from '../core/views.ts';
import { Calendar, LocalTimeError } from '../core/calendar.ts';
import { badRequest } from './api.errors.ts';
import { COMPARISON_MODES, parseComparisonMode, type Comparison } from './comparison.ts';
import { parseDimension, parseFilterClauses, validateFilter, type FilterClause, type ParsedFilters } from './filter.parser.ts';
import type { ServingOptions } from './options.ts';
import type { FunnelStep, SourceChoice } from './types.ts';
import { findGoal, GOAL_METRICS, isGoalMetric, type ApiMetric, type GoalDefinition } from './goals.ts';

export { parseDimension, validateFilter } from './filter.parser.ts';

export const BREAKDOWN_METRICS = ['pageviews', 'visitors', 'events', 'revenue'] as const;
export type BreakdownMetric = (typeof BREAKDOWN_METRICS)[number];
export { GRAINS } from '../core/views.ts';

export interface StatsQuery {
  site: string;
  /** `goals`: a breakdown by goal (`event:goal`), one row per goal of the site. */
  kind: 'series' | 'totals' | 'breakdown' | 'goals';
  /** Store metrics, and the goal metrics (goals.ts) with a goal filter or by goal. */
  metrics: ApiMetric[];
  from: number;
  to: number;
  grain?: Grain;
  dimension?: AnyDimension;
  /** A breakdown by several dimensions (2 to 3, `dimension` first). */
  dimensions?: AnyDimension[];
  /** A breakdown's answer carries the metric's total over the range and filters (meta.totals). */
  totals?: boolean;
  /** A breakdown by visits' entry or exit pages (`dimension` is then `page`). */
  visitPage?: 'entry' | 'exit';
  filters: Filters;
  /** Filter conditions beyond one equal value (filter.parser.ts), ANDed with `filters`. */
  conditions: FilterCondition[];
  /** The saved segment whose filters are part of `filters` and `conditions`. */
  segment?: string;
  /** The goal filter (`["is", "event:goal", [name]]`): its condition applies to every metric. */
  goal?: GoalDefinition;
  /** A breakdown by goal: the site's goals. */
  goals?: readonly GoalDefinition[];
  eventName?: string;
  limit: number;
  offset: number;
  source: SourceChoice;
  comparison?: Comparison;
  /** The site's reporting currency (core/sites.ts), filled in by the routes: `revenue` sums it only. */
  currency?: string;
  /** The site's IANA time zone (core/sites.ts): date ranges and buckets are local to it. */
  zone: string;
}

export function parseMetrics(list: readonly string[]): ApiMetric[] {
  if (list.length === 0) throw badRequest('metrics: at least one metric is needed');
  const out: ApiMetric[] = [];
  for (const m of list) {
    if (!(METRICS as readonly string[]).includes(m) && !isGoalMetric(m)) throw badRequest(`metric "${m.slice(0, 40)}" is unknown; expected one of ${[...METRICS, ...GOAL_METRICS].join(', ')}`);
    if (!out.includes(m as ApiMetric)) out.push(m as ApiMetric);
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

const filterClause = z.tuple([z.string(), z.string(), z.union([z.string(), z.array(z.string()).max(1_000)])]);
const bodySchema = z.strictObject({
  site_id: z.string().min(1),
  metrics: z.array(z.string()).min(1).max(METRICS.length + GOAL_METRICS.length),
  date_range: z.union([z.string(), z.tuple([z.string(), z.string()])]),
  dimensions: z.array(z.string()).max(10).optional(),
  filters: z.array(filterClause).max(100).optional(),
  segment: z.string().max(64).optional(),
  order_by: z.array(z.tuple([z.string(), z.enum(['asc', 'desc'])])).max(1).optional(),
  pagination: z.strictObject({ limit: z.number().optional(), offset: z.number().optional() }).optional(),
  include: z
    .strictObject({ comparisons: z.strictObject({ mode: z.string(), date_range: z.tuple([z.string(), z.string()]).optional() }).optional(), totals: z.boolean().optional() })
    .optional(),
  source: z.string().optional(),
});

/** A site's saved segments by name (core/sites.ts): their filter clauses. */
export type SegmentLookup = (name: string) => readonly FilterClause[] | undefined;

/** What a query may name of its site: saved segments and goals. */
export interface SiteQueryContext {
  segments?: SegmentLookup;
  goals?: readonly GoalDefinition[];
  /** The site's listed custom property keys (`event:props:<key>` dimensions and filters). */
  properties?: readonly string[];
}

/** Visits' entry and exit pages: breakdown dimensions (a visit's first and last page view's page). */
const VISIT_PAGES: Record<string, 'entry' | 'exit' | undefined> = { 'visit:entry_page': 'entry', entry_page: 'entry', 'visit:exit_page': 'exit', exit_page: 'exit' };

/** The dimension of goals, as a filter and as a breakdown. */
export const GOAL_DIMENSION = 'event:goal';

/** Takes the `event:goal` clause out of a query's clauses: one goal by name, with `is`. */
export function splitGoalClause(clauses: readonly FilterClause[]): { goal?: string; rest: FilterClause[] } {
  const goal = clauses.filter((c) => c[1] === GOAL_DIMENSION);
  if (goal.length > 1) throw badRequest('filters: one event:goal clause per query (a breakdown by event:goal gives every goal)');
  const [clause] = goal;
  if (!clause) return { rest: [...clauses] };
  const values = typeof clause[2] === 'string' ? [clause[2]] : clause[2];
  if (clause[0] !== 'is' || values.length !== 1) throw badRequest('filter event:goal: expected ["is", "event:goal", [one goal name]] (a breakdown by event:goal gives every goal)');
  return { goal: values[0]!, rest: clauses.filter((c) => c !== clause) };
}

/** The comparison a query asks for: a mode, and the range of a custom one. */
export interface ComparisonPart {
  mode: string;
  range?: readonly [string, string];
}

/** POST /api/v2/query. */
export function parseQueryBody(body: unknown, now: number, options: ServingOptions, zone = 'UTC', site: SiteQueryContext = {}): StatsQuery {
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) {
    throw badRequest(`query body: ${parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')}`);
  }
  const b = parsed.data;
  const [dim, ...more] = b.dimensions ?? [];
  const order = b.order_by?.[0];
  if (order && order[1] === 'asc') throw badRequest('order_by: only descending order is supported (results are top-k)');
  const cmp = b.include?.comparisons;
  const { goal, rest } = splitGoalClause(b.filters ?? []);
  return buildQuery({
    site: b.site_id,
    metrics: b.metrics,
    range: b.date_range,
    dimension: dim,
    ...(more.length ? { moreDimensions: more } : {}),
    ...(b.include?.totals ? { totals: true } : {}),
    filters: parseFilterClauses(rest, options, undefined, 'filter', site.properties ?? []),
    goal,
    segment: b.segment,
    limit: b.pagination?.limit,
    offset: b.pagination?.offset,
    source: b.source,
    ...(cmp ? { comparison: { mode: cmp.mode, ...(cmp.date_range ? { range: cmp.date_range } : {}) } } : {}),
    orderMetric: order?.[0],
  }, now, options, zone, site);
}

export interface QueryParts {
  site: string;
  metrics: readonly string[];
  range: string | readonly [string, string];
  /** `time`, `time:<grain>` or a dimension. */
  dimension?: string;
  /** The second and third dimension of a breakdown by several. */
  moreDimensions?: readonly string[];
  /** Whether a breakdown's answer carries the metric's total over the range (meta.totals). */
  totals?: boolean;
  filters: ParsedFilters;
  /** A saved segment of the site, whose clauses are added to `filters`. */
  segment?: string | undefined;
  /** A goal of the site by name. */
  goal?: string | undefined;
  limit?: number | string;
  offset?: number | string;
  source?: string;
  comparison?: ComparisonPart;
  orderMetric?: string;
}

/** The comparison of a query: previous_period, year_over_year, or custom with its own range. */
export function parseComparison(c: ComparisonPart | undefined, now: number, options: ServingOptions, zone: string): Comparison | undefined {
  if (c === undefined) return undefined;
  const mode = parseComparisonMode(c.mode);
  if (mode !== 'custom') {
    if (c.range) throw badRequest(`comparison ${mode} takes no date_range (only custom does)`);
    return { mode };
  }
  if (!c.range) throw badRequest(`comparison custom needs a date_range [from, to] (modes: ${COMPARISON_MODES.join(', ')})`);
  return { mode, ...parseDateRange(c.range, now, options, zone) };
}

/** Adds a saved segment's clauses to the query's own; a goal clause of the segment comes back apart. */
function withSegment(filters: ParsedFilters, name: string | undefined, segments: SegmentLookup | undefined, options: ServingOptions, properties: readonly string[]): { parsed: ParsedFilters; goal?: string } {
  if (name === undefined) return { parsed: filters };
  const clauses = segments?.(name);
  if (!clauses) throw badRequest(`segment "${name.slice(0, 64)}" is unknown for this site (GET /v1/sites/:site/segments lists them)`);
  const { goal, rest } = splitGoalClause(clauses);
  const merged = { filters: { ...filters.filters }, conditions: [...filters.conditions] };
  return { parsed: parseFilterClauses(rest, options, merged, `segment "${name}" filter`, properties), ...(goal !== undefined ? { goal } : {}) };
}

export function buildQuery(p: QueryParts, now: number, options: ServingOptions, zone = 'UTC', site: SiteQueryContext = {}): StatsQuery {
  const metrics = parseMetrics(p.metrics);
  const { from, to } = parseDateRange(p.range, now, options, zone);
  // A segment may hold a goal clause too.
  const { parsed: f, goal: segmentGoal } = withSegment(p.filters, p.segment, site.segments, options, site.properties ?? []);
  if (segmentGoal !== undefined && p.goal !== undefined && segmentGoal !== p.goal) throw badRequest('filters: one event:goal per query (the segment names another)');
  const goalName = p.goal ?? segmentGoal;
  const goal = goalName === undefined ? undefined : findGoal(site.goals, goalName);
  const comparison = parseComparison(p.comparison, now, options, zone);
  const base = {
    site: p.site,
    zone,
    metrics,
    from,
    to,
    filters: f.filters,
    conditions: f.conditions,
    ...(p.segment !== undefined ? { segment: p.segment } : {}),
    eventName: f.filters.event_name,
    limit: parseInt10(p.limit, 'limit', 1, options.maxLimit, 10),
    offset: parseInt10(p.offset, 'offset', 0, options.maxOffset, 0),
    source: parseSource(p.source),
    ...(comparison ? { comparison } : {}),
    ...(goal ? { goal } : {}),
  };
  const goalMetrics = metrics.filter(isGoalMetric);
  if (p.moreDimensions?.length && (p.dimension === undefined || p.dimension === GOAL_DIMENSION || p.dimension === 'time' || p.dimension.startsWith('time:'))) {
    throw badRequest(`dimensions: "${p.dimension}" cannot be combined with other dimensions (a series or a breakdown by goal stands alone)`);
  }
  if (p.dimension === GOAL_DIMENSION) {
    if (goal) throw badRequest('a breakdown by event:goal gives every goal: leave out the event:goal filter');
    const allowed = ['conversions', 'conversion_rate', 'visitors', 'revenue'];
    const bad = metrics.find((m) => !allowed.includes(m));
    if (bad) throw badRequest(`a breakdown by event:goal answers ${allowed.join(', ')}; not "${bad}"`);
    return { ...base, kind: 'goals', goals: site.goals ?? [] };
  }
  if (goalMetrics.length > 0 && !goal) throw badRequest(`${goalMetrics.join(', ')} need a goal: filter ["is", "event:goal", [name]] or break down by event:goal`);
  if (p.dimension === undefined) return { ...base, kind: 'totals' };
  if (p.dimension === 'time' || p.dimension.startsWith('time:')) {
    const grain = p.dimension === 'time' ? autoGrain(from, to) : parseGrain(p.dimension.slice(5));
    checkBuckets(from, to, grain, options);
    return { ...base, kind: 'series', grain };
  }
  const visitPage = VISIT_PAGES[p.dimension];
  if (visitPage) {
    if (p.moreDimensions?.length) throw badRequest(`dimensions: ${p.dimension} stands alone (entry and exit pages are not combined with other dimensions yet)`);
    if (goal) throw badRequest(`${p.dimension} with a goal is not answered yet: leave out the goal`);
    if (f.filters.page !== undefined || f.conditions.some((c) => c.dimension === 'page')) throw badRequest(`${p.dimension} under a page filter is ambiguous (the event's page or the visit's): leave out the page filter`);
  }
  const dimension = visitPage ? 'page' : parseDimension(p.dimension, 'dimension', site.properties ?? []);
  const dimensions = [dimension, ...(p.moreDimensions ?? []).map((d) => {
    if (d === 'time' || d.startsWith('time:') || d === GOAL_DIMENSION || VISIT_PAGES[d]) throw badRequest(`dimensions: "${d.slice(0, 40)}" cannot be combined with other dimensions (a series, a breakdown by goal and entry or exit pages stand alone)`);
    return parseDimension(d, 'dimension', site.properties ?? []);
  })];
  if (dimensions.length > MAX_BREAKDOWN_DIMENSIONS) throw badRequest(`dimensions: at most ${MAX_BREAKDOWN_DIMENSIONS} in one breakdown (got ${dimensions.length})`);
  if (new Set(dimensions).size !== dimensions.length) throw badRequest(`dimensions: ${dimensions.join(', ')} names one twice`);
  const ranking = goal ? [...BREAKDOWN_METRICS, 'conversions'] : BREAKDOWN_METRICS;
  if (metrics.length !== 1 || !(ranking as readonly string[]).includes(metrics[0]!)) {
    throw badRequest(`a breakdown ranks by one metric: expected exactly one of ${ranking.join(', ')}`);
  }
  if (p.orderMetric !== undefined && p.orderMetric !== metrics[0]) throw badRequest(`order_by: a breakdown is ordered by its metric (${metrics[0]})`);
  return { ...base, kind: 'breakdown', dimension, ...(dimensions.length > 1 ? { dimensions } : {}), ...(p.totals ? { totals: true } : {}), ...(visitPage ? { visitPage } : {}) };
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
