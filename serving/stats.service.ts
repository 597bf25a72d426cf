/**
 * Answers validated queries: pins the current batch version for the whole request (no mixed
 * versions in one response), wraps both stores in their caches, merges at W, and shapes the
 * response rows (Plausible v2 style: `dimensions` and `metrics` arrays per row).
 *
 * The stores and the merge work in the read contract's units (revenue in integer micros, so sums
 * across W stay exact); the rows built here are the one place revenue becomes currency units,
 * for JSON, CSV and Arrow alike.
 */
import { isoTime } from '../core/iso-time.ts';
import { Calendar } from '../core/calendar.ts';
import { microsToUnits, OTHER_VALUE, reportingCurrency, type Metric } from '../core/views.ts';
import { ApiError } from './api.errors.ts';
import { cachedBatch, cachedSpeed, type CacheObserver } from './cached.readers.ts';
import type { ServingOptions } from './options.ts';
import type { StatsQuery } from './query.parser.ts';
import type { ResultCache } from './result.cache.ts';
import type { BatchSource, CoverageMeta, FunnelStep, RealtimeReader, SourceChoice, SourceName, SpeedViews } from './types.ts';
import { mergeBreakdown, mergeSeries, mergeTotals, type MergeContext } from './view.merger.ts';
import type { Dimension, FilterCondition, FilterOperator, Filters } from '../core/views.ts';
import { yearBack, type Comparison } from './comparison.ts';
import { apiDimensionName, clausesOf } from './filter.parser.ts';
import { asNullable, conversionMetrics, goalCondition, goalPlan, goalValues, type ApiMetric, type GoalDefinition } from './goals.ts';

export interface ResultRow {
  dimensions: string[];
  metrics: (number | null)[];
  source?: SourceName | 'batch+speed' | null;
  exact?: boolean;
  status?: 'ok' | 'partial' | 'missing';
  /** Why a missing bucket is missing, when a retention tier let it go (e.g. "minute views are kept 7 days (RETENTION_VIEWS_MINUTE)"). */
  reason?: string;
}

export interface ResponseMeta {
  watermark: string | null;
  batch_version: string | null;
  source: SourceChoice;
  sources: SourceName[];
  exact: boolean;
  complete: boolean;
  missing_buckets: number;
  partial_buckets: number;
  /** Up to 20 sub-ranges of the query no store covers. */
  missing_ranges: [string, string][];
  /** Spans missing because a retention tier let them go, each with its reason (absent: none). */
  missing_reasons?: { from: string; to: string; reason: string }[];
  coverage: { batch: { from: string; to: string } | null; speed: { from: string; to: string } | null };
  uniques?: string;
  /** A breakdown's metric over the whole range and filters (`include.totals`): what its rows are shares of. */
  totals?: Record<string, number | null>;
  /**
   * On answers with the revenue metric (contract 10): the currency revenue is in (the site's
   * reporting currency; null for a breakdown by currency, whose rows are each in the currency they
   * name) and how many purchases of the range in other currencies that revenue left out (null
   * when a store cannot count them under these filters).
   */
  revenue?: { currency: string | null; other_currency_purchases: number | null };
  /** Set when a breakdown with speed's part has an `(other)` row: what it holds (the speed store's cap on values per key and minute). */
  other?: string;
}

export interface StatsResult {
  query: {
    site_id: string;
    kind: StatsQuery['kind'];
    metrics: ApiMetric[];
    date_range: [string, string];
    dimensions: string[];
    /** Every filter the answer applies (the segment's included), as clauses. */
    filters: [FilterOperator, string, string[]][];
    segment?: string;
    goal?: string;
    grain?: string;
    limit?: number;
    offset?: number;
    timezone: string;
  };
  results: ResultRow[];
  meta: ResponseMeta;
  comparison?: { mode: Comparison['mode']; date_range: [string, string]; results: ResultRow[]; meta: ResponseMeta };
}

export interface RealtimeResult {
  active_visitors: number | null;
  pageviews_30m: number | null;
  window_seconds: number;
  series: ResultRow[];
  meta: ResponseMeta;
}

function realtimeResult(active: number | null, windowMs: number, series: ResultRow[], m: ResponseMeta): RealtimeResult {
  const counted = series.filter((r) => r.metrics[0] !== null);
  return {
    active_visitors: active,
    pageviews_30m: counted.length ? counted.reduce((n, r) => n + (r.metrics[0] ?? 0), 0) : null,
    window_seconds: windowMs / 1000,
    series,
    meta: m,
  };
}

export interface StatsServiceDeps {
  batch: BatchSource;
  speed: SpeedViews;
  cache: ResultCache;
  options: ServingOptions;
  clock: () => number;
  observeCache?: CacheObserver;
}

const iso = isoTime;
/** How an answer names an instant: UTC ISO for a UTC site, the local time with its offset otherwise. */
function stampIn(zone: string): (t: number) => string {
  const cal = Calendar.of(zone);
  return cal.utc ? iso : (t) => cal.localIso(t);
}

/**
 * The period before a query's, for comparisons: as many buckets of its grain back (a series, so
 * bucket i compares with bucket i; local days and months vary in length), else the same length.
 */
export function previousPeriod(q: Pick<StatsQuery, 'kind' | 'from' | 'to' | 'grain' | 'zone'>): { from: number; to: number } {
  if (q.kind !== 'series' || !q.grain) return { from: q.from - (q.to - q.from), to: q.from };
  const cal = Calendar.of(q.zone);
  const n = cal.buckets(q.from, q.to, q.grain).length;
  let from = cal.floor(q.from, q.grain);
  for (let i = 0; i < n; i++) from = cal.floor(from - 1, q.grain);
  return { from, to: cal.floor(q.from, q.grain) };
}

/** The range an answer is compared with (comparison.ts). */
export function comparisonRange(q: Pick<StatsQuery, 'kind' | 'from' | 'to' | 'grain' | 'zone'>, c: Comparison): { from: number; to: number } {
  if (c.mode === 'custom') return { from: c.from, to: c.to };
  if (c.mode === 'year_over_year') return { from: yearBack(q.from, q.zone), to: yearBack(q.to, q.zone) };
  return previousPeriod(q);
}

/** Batch's coverage of a site in whole local days of its zone (the planner's W). */
async function siteCoverage(batch: { coverage(site: string): Promise<{ from: number; to: number } | null> }, site: string, zone: string): Promise<{ from: number; to: number } | null> {
  const cov = await batch.coverage(site);
  return cov && Calendar.of(zone).wholeDays(cov);
}

/** A metric value as the API presents it: revenue in currency units, everything else as is. */
const present = (m: ApiMetric, v: number | null | undefined): number | null => (v === null || v === undefined ? null : m === 'revenue' ? microsToUnits(v) : v);
const span = (c: { from: number; to: number } | null) => (c ? { from: iso(c.from), to: iso(c.to) } : null);

function meta(m: CoverageMeta, choice: SourceChoice, sources: SourceName[], exact: boolean, uniques?: string): ResponseMeta {
  return {
    watermark: m.watermark === null ? null : iso(m.watermark),
    batch_version: m.batchVersion,
    source: choice,
    sources,
    exact,
    complete: m.complete,
    missing_buckets: m.missingBuckets,
    partial_buckets: m.partialBuckets,
    missing_ranges: m.missingRanges.slice(0, 20).map(([a, z]) => [iso(a), iso(z)]),
    ...(m.missingReasons?.length ? { missing_reasons: m.missingReasons.slice(0, 20).map((r) => ({ from: iso(r.from), to: iso(r.to), reason: r.reason })) } : {}),
    coverage: { batch: span(m.batch), speed: span(m.speed) },
    ...(uniques ? { uniques } : {}),
  };
}

export class StatsService {
  constructor(private readonly deps: StatsServiceDeps) {}

  /** One batch version for the whole request, read through the caches. */
  async context(choice: SourceChoice): Promise<MergeContext> {
    const { cache, observeCache, options } = this.deps;
    const snapshot = await this.deps.batch.current();
    return {
      batch: snapshot ? cachedBatch(snapshot, cache, observeCache) : null,
      speed: cachedSpeed(this.deps.speed, cache, options.speedCacheMs, observeCache),
      choice,
      now: this.deps.clock(),
    };
  }

  /**
   * A whole answer is reused for as long as a speed answer may be (SERVING_SPEED_CACHE), under
   * the batch version it was computed from: it is then no staler than its speed part already
   * is, and a new batch version still shows on the very next request.
   */
  async run(q: StatsQuery): Promise<StatsResult> {
    const ctx = await this.context(q.source);
    const ttl = this.deps.options.speedCacheMs;
    if (ttl <= 0) return this.compute(q, ctx);
    const observe = this.deps.observeCache;
    const key = `r\u0000${ctx.batch?.version ?? '-'}\u0000${JSON.stringify(q)}`;
    return this.deps.cache.getOrLoad(key, () => this.compute(q, ctx), ttl, observe && ((hit) => observe('response', hit)));
  }

  private async compute(q: StatsQuery, ctx: MergeContext): Promise<StatsResult> {
    const main = await this.answer(q, ctx);
    const stamp = stampIn(q.zone);
    const result: StatsResult = {
      query: {
        site_id: q.site,
        kind: q.kind,
        metrics: q.metrics,
        date_range: [stamp(q.from), stamp(q.to)],
        timezone: q.zone,
        dimensions: q.kind === 'series' ? [`time:${q.grain}`] : q.kind === 'goals' ? ['event:goal'] : q.visitPage ? [`visit:${q.visitPage}_page`] : (q.dimensions ?? (q.dimension ? [q.dimension] : [])).map(apiDimensionName),
        filters: clausesOf(q),
        ...(q.segment !== undefined ? { segment: q.segment } : {}),
        ...(q.goal ? { goal: q.goal.name } : {}),
        ...(q.grain ? { grain: q.grain } : {}),
        ...(q.kind === 'breakdown' || q.kind === 'goals' ? { limit: q.limit, offset: q.offset } : {}),
      },
      ...main,
    };
    if (q.comparison) {
      const prev = { ...q, ...comparisonRange(q, q.comparison) };
      const other = await this.answer(prev, ctx);
      result.comparison = { mode: q.comparison.mode, date_range: [stamp(prev.from), stamp(prev.to)], ...other };
    }
    return result;
  }

  private async answer(q: StatsQuery, ctx: MergeContext): Promise<{ results: ResultRow[]; meta: ResponseMeta }> {
    const out = q.goal || q.kind === 'goals' ? await this.goalRows(q, ctx) : await this.answerRows(q, ctx);
    if (q.metrics.includes('revenue')) out.meta.revenue = await this.revenueMeta(q, ctx);
    return out;
  }

  /** The reporting currency and the purchases of the range in other currencies: all minus those in it. */
  private async revenueMeta(q: StatsQuery, ctx: MergeContext): Promise<NonNullable<ResponseMeta['revenue']>> {
    const currency = reportingCurrency(q);
    if (q.kind === 'breakdown' && q.dimension === 'currency') return { currency: null, other_currency_purchases: 0 };
    const range = { site: q.site, from: q.from, to: q.to, metrics: ['purchases'] as Metric[], currency };
    const conditions = q.goal ? [...q.conditions, goalCondition(q.goal)] : q.conditions;
    const all = await mergeTotals({ ...range, filters: q.filters, conditions }, ctx);
    const a = all.values.purchases;
    // Under a currency filter the answer's purchases are all in that currency (or none were left out).
    const c = q.filters.currency !== undefined ? (q.filters.currency === currency ? a : 0) : (await mergeTotals({ ...range, filters: { ...q.filters, currency }, conditions }, ctx)).values.purchases;
    return { currency, other_currency_purchases: a === undefined || a === null || c === undefined || c === null ? null : a - c };
  }

  /** The query's range and filters as the merge functions take them; `extra` conditions ANDed (a goal's). */
  private rangeOf(q: StatsQuery, extra: FilterCondition[] = []) {
    const conditions = [...q.conditions, ...extra];
    return { site: q.site, from: q.from, to: q.to, filters: q.filters, ...(conditions.length ? { conditions } : {}), currency: reportingCurrency(q), zone: q.zone, ...(q.eventName ? { eventName: q.eventName } : {}) };
  }

  /**
   * Goal answers (goals.ts): the store metrics under the goal's condition, and the visitors without
   * it that a conversion rate divides by; a breakdown by goal is one such total per goal.
   */
  private async goalRows(q: StatsQuery, ctx: MergeContext): Promise<{ results: ResultRow[]; meta: ResponseMeta }> {
    if (q.kind === 'goals') {
      const answers = await Promise.all((q.goals ?? []).map(async (g) => ({ g, a: await this.goalTotals(q, g, ctx) })));
      const first = q.metrics[0]!;
      answers.sort((x, y) => (y.a.values[first] ?? -1) - (x.a.values[first] ?? -1) || (x.g.name < y.g.name ? -1 : 1));
      const page = answers.slice(q.offset, q.offset + q.limit);
      const sources = [...new Set(answers.flatMap((x) => x.a.sources))];
      const base = answers[0]?.a.meta ?? (await mergeTotals({ ...this.rangeOf(q), metrics: ['pageviews'] }, ctx)).meta;
      return { results: page.map((x) => ({ dimensions: [x.g.name], metrics: q.metrics.map((m) => present(m, x.a.values[m])) })), meta: meta(base, ctx.choice, sources, answers.every((x) => x.a.exact && x.a.meta.complete)) };
    }
    const goal = q.goal!;
    const plan = goalPlan(q.metrics, goal);
    const withGoal = this.rangeOf(q, [goalCondition(goal)]);
    if (q.kind === 'series') {
      const [g, w] = await Promise.all([mergeSeries({ ...withGoal, grain: q.grain!, metrics: plan.withGoal }, ctx), plan.without.length ? mergeSeries({ ...this.rangeOf(q), grain: q.grain!, metrics: plan.without }, ctx) : null]);
      const stamp = stampIn(q.zone);
      const seen = new Set<SourceName>(g.points.flatMap((p) => (p.source === 'batch+speed' ? ['batch', 'speed'] : p.source ? [p.source] : [])) as SourceName[]);
      return {
        results: g.points.map((p, i) => {
          const v = goalValues(q.metrics, goal, p.values, w?.points[i]?.values ?? {});
          return { dimensions: [stamp(p.start)], metrics: q.metrics.map((m) => present(m, v[m])), source: p.source, exact: p.exact, status: p.status, ...(p.reason !== undefined ? { reason: p.reason } : {}) };
        }),
        meta: meta(g.meta, ctx.choice, [...seen], g.points.every((p) => p.exact)),
      };
    }
    if (q.kind === 'totals') {
      const t = await this.goalTotals(q, goal, ctx);
      return { results: [{ dimensions: [], metrics: q.metrics.map((m) => present(m, t.values[m])) }], meta: meta(t.meta, ctx.choice, t.sources, t.exact && t.meta.complete, t.uniques) };
    }
    // A breakdown of a goal's conversions (its page views, or its custom events and purchases added) or converting visitors.
    const metric = q.metrics[0]!;
    const ranked = metric === 'conversions' ? conversionMetrics(goal) : [metric as 'pageviews' | 'visitors' | 'events' | 'revenue'];
    const fetchCap = this.deps.options.maxLimit + this.deps.options.maxOffset;
    const parts = await Promise.all(ranked.map((m) => mergeBreakdown({ ...withGoal, dimension: q.dimension!, ...(q.dimensions ? { dimensions: q.dimensions } : {}), metric: m as 'pageviews' | 'visitors' | 'events' | 'revenue', limit: Math.min(fetchCap, q.limit + q.offset) }, ctx, { fetchCap })));
    const sums = new Map<string, number>();
    for (const b of parts) for (const r of b.rows) sums.set(r.value, (sums.get(r.value) ?? 0) + r.count);
    const rows = [...sums].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(q.offset, q.offset + q.limit);
    const b = parts[0]!;
    return { results: rows.map(([value, count]) => ({ dimensions: q.dimensions ? (JSON.parse(value) as string[]) : [value], metrics: [present(metric, count)] })), meta: meta(b.meta, ctx.choice, b.sources, parts.every((x) => x.exact && x.meta.complete), metric === 'visitors' && b.sources.length > 1 ? 'sum-upper-bound' : undefined) };
  }

  /** One goal's metrics over the query's range. */
  private async goalTotals(q: StatsQuery, goal: GoalDefinition, ctx: MergeContext) {
    const plan = goalPlan(q.metrics, goal);
    const [g, w] = await Promise.all([mergeTotals({ ...this.rangeOf(q, [goalCondition(goal)]), metrics: plan.withGoal }, ctx), plan.without.length ? mergeTotals({ ...this.rangeOf(q), metrics: plan.without }, ctx) : null]);
    return { ...g, exact: g.exact && (w?.exact ?? true), values: goalValues(q.metrics, goal, g.values, asNullable(w?.values ?? {})) };
  }

  private async answerRows(q: StatsQuery, ctx: MergeContext): Promise<{ results: ResultRow[]; meta: ResponseMeta }> {
    const metrics = q.metrics as Metric[];
    const range = { site: q.site, from: q.from, to: q.to, filters: q.filters, ...(q.conditions.length ? { conditions: q.conditions } : {}), currency: reportingCurrency(q), zone: q.zone, ...(q.eventName ? { eventName: q.eventName } : {}) };
    if (q.kind === 'series') {
      const s = await mergeSeries({ ...range, grain: q.grain!, metrics }, ctx);
      const seen = new Set<SourceName>();
      for (const p of s.points) {
        if (p.source === 'batch+speed') seen.add('batch').add('speed');
        else if (p.source) seen.add(p.source);
      }
      const sources = [...seen];
      const stamp = stampIn(q.zone);
      return {
        results: s.points.map((p) => ({ dimensions: [stamp(p.start)], metrics: metrics.map((m) => present(m, p.values[m])), source: p.source, exact: p.exact, status: p.status, ...(p.reason !== undefined ? { reason: p.reason } : {}) })),
        meta: meta(s.meta, ctx.choice, sources, s.points.every((p) => p.exact)),
      };
    }
    if (q.kind === 'totals') {
      const t = await mergeTotals({ ...range, metrics }, ctx);
      return { results: [{ dimensions: [], metrics: metrics.map((m) => present(m, t.values[m])) }], meta: meta(t.meta, ctx.choice, t.sources, t.exact && t.meta.complete, t.uniques) };
    }
    const metric = q.metrics[0] as 'pageviews' | 'visitors' | 'events' | 'revenue';
    const [b, total] = await Promise.all([
      mergeBreakdown({ ...range, dimension: q.dimension!, ...(q.dimensions ? { dimensions: q.dimensions } : {}), ...(q.visitPage ? { visitPage: q.visitPage } : {}), metric, limit: q.limit }, ctx, { offset: q.offset, fetchCap: this.deps.options.maxLimit + this.deps.options.maxOffset }),
      q.totals ? mergeTotals({ ...range, metrics: [metric] }, ctx) : undefined,
    ]);
    const uniques = metric === 'visitors' && b.sources.length > 1 ? 'sum-upper-bound' : undefined;
    // By several dimensions a row's value is the stores' breakdownKey: the values as a JSON array.
    const dims = (r: { value: string }): string[] => (q.dimensions ? (JSON.parse(r.value) as string[]) : [r.value]);
    const m = meta(b.meta, ctx.choice, b.sources, b.exact && b.meta.complete, uniques);
    if (total) m.totals = { [metric]: present(metric, total.values[metric]) };
    // Past SPEED_MAX_MEMBERS values of a key in a minute, speed counts the rest under `(other)`: that row is not one value.
    const fromSpeed = b.sources.includes('speed');
    const results = b.rows.map((r) => {
      const dimensions = dims(r);
      return { dimensions, metrics: [present(metric, r.count)], ...(fromSpeed && dimensions.includes(OTHER_VALUE) ? { exact: false } : {}) };
    });
    if (results.some((r) => r.exact === false)) m.other = `${OTHER_VALUE} holds the values the speed store kept no row for (past its cap of values per key and minute, SPEED_MAX_MEMBERS); batch days count each value apart`;
    return { results, meta: m };
  }


  /** Active visitors of the last few minutes and page views per minute of the last 30, from speed. */
  async realtime(site: string): Promise<RealtimeResult> {
    const speed = cachedSpeed(this.deps.speed, this.deps.cache, this.deps.options.speedCacheMs, this.deps.observeCache);
    if (speed.realtime && this.deps.options.activeWindowMs === 5 * 60_000) return this.realtimeSnapshot(site, speed as SpeedViews & RealtimeReader);
    const ctx = { ...(await this.context('speed')), batch: null };
    const now = ctx.now;
    const windowMs = this.deps.options.activeWindowMs;
    const minute = Math.floor(now / 60_000) * 60_000;
    const [active, series] = await Promise.all([
      mergeTotals({ site, from: now - windowMs, to: now, metrics: ['visitors'] }, ctx),
      mergeSeries({ site, from: minute - 29 * 60_000, to: minute + 60_000, grain: 'minute', metrics: ['pageviews'] }, ctx),
    ]);
    const rows = series.points.map((p) => ({ dimensions: [iso(p.start)], metrics: [p.values.pageviews ?? null], source: p.source, exact: p.exact, status: p.status }));
    return realtimeResult(active.values.visitors ?? null, windowMs, rows, meta(series.meta, 'speed', ['speed'], false));
  }

  /** The speed store's own one-round-trip answer; minutes before its coverage are missing. */
  private async realtimeSnapshot(site: string, speed: SpeedViews & RealtimeReader): Promise<RealtimeResult> {
    const [snap, cov] = await Promise.all([speed.realtime(site), speed.coverage(site)]);
    let missing = 0;
    const rows: ResultRow[] = snap.pageviewsPerMinute.map((p) => {
      const covered = cov !== null && p.start >= cov.from && p.start < cov.to;
      if (!covered) missing++;
      return { dimensions: [iso(p.start)], metrics: [covered ? p.pageviews : null], source: covered ? 'speed' : null, exact: false, status: covered ? 'ok' : 'missing' };
    });
    const m: CoverageMeta = { watermark: null, batchVersion: null, batch: null, speed: cov, complete: missing === 0, missingBuckets: missing, partialBuckets: 0, missingRanges: [] };
    return realtimeResult(cov ? snap.visitorsLast5m : null, 5 * 60_000, rows, meta(m, 'speed', ['speed'], false));
  }

  /** Ordered steps over batch-covered days only (a funnel needs every event of a session). */
  async funnel(site: string, from: number, to: number, steps: FunnelStep[], filters: Filters, zone = 'UTC') {
    const ctx = await this.context('batch');
    const batch = ctx.batch;
    if (!batch?.funnel) throw new ApiError('NOT_IMPLEMENTED', batch ? 'the batch store of this deployment offers no funnels' : 'no batch version exists yet: funnels are computed over batch-covered days');
    const cov = await siteCoverage(batch, site, zone);
    // Funnels are cut from the raw events: within their retention tier only.
    const held = batch.retained?.('events') ?? null;
    const a = Math.max(from, cov?.from ?? Infinity, held?.from ?? -Infinity);
    const z = Math.min(to, cov?.to ?? -Infinity);
    const covered = a < z;
    const rows = covered ? await batch.funnel({ site, from: a, to: z, steps, filters }) : steps.map((step) => ({ step, visitors: null }));
    const first = rows[0]?.visitors ?? null;
    return {
      steps: rows.map((r, i) => ({
        step: r.step.kind === 'event' ? `event:${r.step.value}` : r.step.value,
        visitors: r.visitors,
        conversion_rate: first && r.visitors !== null ? r.visitors / first : null,
        dropoff: i > 0 && r.visitors !== null && rows[i - 1]!.visitors !== null ? rows[i - 1]!.visitors! - r.visitors : null,
      })),
      meta: {
        batch_version: batch.version,
        watermark: cov ? iso(cov.to) : null,
        covered_range: covered ? [iso(a), iso(z)] : null,
        complete: covered && a === from && z === to,
        exact: true,
        ...(held && from < held.from ? { missing_reason: held.reason } : {}),
      },
    };
  }

  async coverage(site: string, zone = 'UTC') {
    const ctx = await this.context('merged');
    const [b, s] = await Promise.all([ctx.batch ? siteCoverage(ctx.batch, site, zone) : null, ctx.speed.coverage(site)]);
    return { watermark: b ? iso(b.to) : null, batch_version: ctx.batch?.version ?? null, timezone: zone, coverage: { batch: span(b), speed: span(s) }, now: iso(ctx.now) };
  }
}
