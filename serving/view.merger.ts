/**
 * The merge rule of contract 7 over two ViewReaders: buckets before W from batch (exact),
 * buckets at or after W from speed; a bucket neither covers is `missing`, never a zero.
 * Totals combine both sides without counting a visitor twice across W.
 */
import { calendarOf, isFiltered, UnsupportedQueryError, type BreakdownQuery, type Metric, type MetricValues, type SeriesQuery, type TotalsQuery } from '../core/views.ts';
import { planRange, type RangePart, type RangePlan } from './range.planner.ts';
import type { BatchViews, CoverageMeta, MergedBreakdown, MergedPoint, MergedSeries, MergedTotals, MissingReason, SourceChoice, SourceName, SpeedViews } from './types.ts';

export interface MergeContext {
  batch: BatchViews | null;
  speed: SpeedViews;
  choice: SourceChoice;
  now: number;
}

/** Metrics that add up across disjoint ranges. */
const ADDITIVE: ReadonlySet<Metric> = new Set(['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews']);
/** Session averages, combined across W weighted by each side's sessions. */
const SESSION_WEIGHTED: ReadonlySet<Metric> = new Set(['bounce_rate', 'visit_duration']);

/** Adds a bucket's reason to the spans, joining it to the last span when they meet with the same reason. */
function addReason(spans: MissingReason[], r: MissingReason): void {
  const last = spans.at(-1);
  if (last && last.reason === r.reason && last.to >= r.from) last.to = Math.max(last.to, r.to);
  else spans.push({ ...r });
}

function coverageMeta(plan: RangePlan, missing: number, partial: number, reasons: MissingReason[] = []): CoverageMeta {
  const all: MissingReason[] = [];
  for (const r of [...plan.reasons, ...reasons].sort((x, y) => x.from - y.from)) addReason(all, r);
  return {
    ...(all.length ? { missingReasons: all } : {}),
    watermark: plan.watermark,
    batchVersion: plan.batchVersion,
    batch: plan.batchCoverage,
    speed: plan.speedCoverage,
    complete: missing === 0 && partial === 0,
    missingBuckets: missing,
    partialBuckets: partial,
    missingRanges: plan.missing,
  };
}

function nullable(values: MetricValues, metrics: readonly Metric[]): Partial<Record<Metric, number | null>> {
  const out: Partial<Record<Metric, number | null>> = {};
  for (const m of metrics) out[m] = values[m] ?? null;
  return out;
}

/** The series buckets of [from, to): aligned to the grain in the query's zone, never past the bucket holding `now`. */
export function seriesBounds(from: number, to: number, grain: SeriesQuery['grain'], now: number, zone?: string): { from: number; to: number } {
  const cal = calendarOf({ zone });
  const start = cal.floor(from, grain);
  const end = Math.min(cal.ceil(to, grain), cal.next(cal.floor(now, grain), grain));
  return { from: start, to: Math.max(start, end) };
}

export async function mergeSeries(q: SeriesQuery, ctx: MergeContext): Promise<MergedSeries> {
  const cal = calendarOf(q);
  const { from, to } = seriesBounds(q.from, q.to, q.grain, ctx.now, q.zone);
  const plan = await planRange({ site: q.site, from, to, choice: ctx.choice, now: ctx.now, batch: ctx.batch, speed: ctx.speed, zone: q.zone });
  // One read per source, over the buckets whose start it covers.
  const fetched = await Promise.all(
    plan.parts.map(async (part) => {
      const first = cal.ceil(part.from, q.grain);
      const last = cal.floor(part.to - 1, q.grain);
      if (first > last) return { part, first, byStart: new Map<number, MetricValues>(), missing: new Map<number, string>() };
      const points = await part.reader.series({ ...q, from: first, to: cal.next(last, q.grain) });
      return { part, first, byStart: new Map(points.map((p) => [p.start, p.values])), missing: new Map(points.filter((p) => p.missing !== undefined).map((p) => [p.start, p.missing!])) };
    }),
  );
  const points: MergedPoint[] = [];
  let missing = 0;
  let partial = 0;
  const reasons: MissingReason[] = [];
  const [b, sp] = plan.parts.length === 2 ? (plan.parts as [RangePart, RangePart]) : [];
  for (const start of cal.buckets(from, to, q.grain)) {
    const end = cal.next(start, q.grain);
    if (b && sp && start < b.to && end > sp.from) {
      // A week or month holding W (a local midnight, so never an hour or a day): both sides'
      // parts of it, merged as totals are (uniques unioned across W), over the whole bucket as
      // every other bucket of the series.
      const t = await mergeTotals({ ...q, from: Math.max(start, b.from), to: Math.min(end, to) }, ctx);
      const isPartial = sp.to < Math.min(end, ctx.now) || b.from > start;
      if (isPartial) partial++;
      points.push({ start, source: 'batch+speed', exact: false, status: isPartial ? 'partial' : 'ok', values: t.values });
      continue;
    }
    const hit = fetched.find(({ part, first }) => start >= first && start < part.to);
    const values = hit?.byStart.get(start);
    // A bucket before a retention tier's cut (the planner's reasons) or one the store says a tier let go.
    const reason = hit && values ? hit.missing.get(start) : plan.reasons.find((r) => start < r.to && end > r.from)?.reason;
    if (!hit || !values || reason !== undefined) {
      missing++;
      if (reason !== undefined) addReason(reasons, { from: start, to: end, reason });
      points.push({ start, source: null, exact: false, status: 'missing', values: nullable({}, q.metrics), ...(reason !== undefined ? { reason } : {}) });
      continue;
    }
    const coveredTo = hit.part.to;
    const isPartial = coveredTo < Math.min(end, ctx.now);
    if (isPartial) partial++;
    points.push({ start, source: hit.part.source, exact: hit.part.reader.exact && !isPartial, status: isPartial ? 'partial' : 'ok', values: nullable(values, q.metrics) });
  }
  return { grain: q.grain, metrics: q.metrics, points, meta: coverageMeta(plan, missing, partial, reasons) };
}

/** Counts missing minutes as "buckets" for totals and breakdowns, whose ranges are not bucketed. */
function missingMinutes(plan: RangePlan): number {
  return plan.missing.reduce((n, [a, z]) => n + Math.ceil((z - a) / 60_000), 0);
}

export async function mergeTotals(q: TotalsQuery, ctx: MergeContext): Promise<MergedTotals> {
  // Totals are cut from the raw events: batch answers them within the events' tier only.
  const plan = await planRange({ site: q.site, from: q.from, to: q.to, choice: ctx.choice, now: ctx.now, batch: ctx.batch, speed: ctx.speed, zone: q.zone, need: 'events' });
  const meta = coverageMeta(plan, missingMinutes(plan), 0);
  if (plan.parts.length === 0) {
    return { values: nullable({}, q.metrics), sources: [], exact: false, uniques: 'none', meta };
  }
  if (plan.parts.length === 1) {
    const part = plan.parts[0]!;
    const values = await part.reader.totals({ ...q, from: part.from, to: part.to });
    return { values: nullable(values, q.metrics), sources: [part.source], exact: part.reader.exact, uniques: part.source, meta };
  }
  const wanted = new Set(q.metrics);
  if (q.metrics.some((m) => SESSION_WEIGHTED.has(m))) wanted.add('sessions');
  const metrics = [...wanted].filter((m) => m !== 'visitors');
  const [b, s] = plan.parts as [RangePart, RangePart];
  // Visitors alone need no totals of either side (their union is below).
  const [bv, sv]: MetricValues[] = metrics.length === 0 ? [{}, {}] : await Promise.all([b.reader.totals({ ...q, metrics, from: b.from, to: b.to }), s.reader.totals({ ...q, metrics, from: s.from, to: s.to })]);
  const values: MetricValues = {};
  for (const m of metrics) {
    if (bv[m] === undefined || sv[m] === undefined) continue;
    if (ADDITIVE.has(m) || m === 'sessions') values[m] = bv[m]! + sv[m]!;
  }
  if (q.metrics.includes('sessions') && values.sessions !== undefined) values.sessions = (await sessionsAcross(q, b, s, ctx)) ?? values.sessions;
  const whole = q.metrics.some((m) => SESSION_WEIGHTED.has(m)) ? await visitsAcross(q, b, s, ctx) : undefined;
  for (const m of SESSION_WEIGHTED) {
    if (!wanted.has(m)) continue;
    if (whole) {
      values[m] = m === 'bounce_rate' ? whole.bounce_rate : whole.visit_duration;
      continue;
    }
    if (bv[m] === undefined || sv[m] === undefined || bv.sessions === undefined || sv.sessions === undefined) continue;
    const n = bv.sessions + sv.sessions;
    values[m] = n === 0 ? 0 : (bv[m]! * bv.sessions + sv[m]! * sv.sessions) / n;
  }
  let uniques: MergedTotals['uniques'] = 'none';
  if (wanted.has('visitors')) {
    const union = await visitorsAcross(q, b, s, ctx);
    values.visitors = union.value;
    uniques = union.how;
  }
  return { values: nullable(values, q.metrics), sources: ['batch', 'speed'], exact: false, uniques, meta };
}

/** Names the batch side's ids of a union: they never change within a batch version. */
function idsKey(version: string, what: string, q: TotalsQuery, b: RangePart): string {
  return JSON.stringify([version, what, q.site, b.from, b.to, q.filters ?? {}, q.conditions ?? []]);
}

/**
 * Unique visitors over a range that spans W: the batch side's exact ids (whole days as the
 * sketches the batch job wrote, where it offers them) go into the speed side's sketch union, so a
 * visitor seen on both sides counts once (within the sketch's error). When a store cannot do its
 * half, the two counts are added and reported as an upper bound.
 */
async function visitorsAcross(q: TotalsQuery, b: RangePart, s: RangePart, ctx: MergeContext): Promise<{ value: number | undefined; how: MergedTotals['uniques'] }> {
  const batch = ctx.batch;
  const speed = ctx.speed;
  if (batch?.visitorIds && speed.visitorsUnion) {
    try {
      const sets = batch.visitorSets ? batch.visitorSets(q.site, b.from, b.to, q.filters, q.conditions) : { ids: () => batch.visitorIds!(q.site, b.from, b.to, q.filters, q.conditions) };
      const extra = { ...sets, key: idsKey(batch.version, 'visitors', q, b) };
      return { value: await speed.visitorsUnion(q.site, s.from, s.to, extra, q.filters, q.conditions), how: 'union' };
    } catch (err) {
      if (!(err instanceof UnsupportedQueryError)) throw err;
    }
  }
  const [bv, sv] = await Promise.all([b.reader.totals({ ...q, metrics: ['visitors'], from: b.from, to: b.to }), s.reader.totals({ ...q, metrics: ['visitors'], from: s.from, to: s.to })]);
  if (bv.visitors === undefined || sv.visitors === undefined) return { value: undefined, how: 'none' };
  return { value: bv.visitors + sv.visitors, how: 'sum-upper-bound' };
}

/**
 * Sessions over a range that spans W: a visit with events on both sides (one across midnight
 * when W is midnight) is one session. The batch side's exact visit ids go into the speed side's
 * session sketches; both sides name a visit by its visitor and start (core/sessions.ts). Undefined
 * when a store cannot do its half (the caller keeps the sum: an upper bound by the visits across W).
 */
async function sessionsAcross(q: TotalsQuery, b: RangePart, s: RangePart, ctx: MergeContext): Promise<number | undefined> {
  if (!ctx.batch?.sessionIds || !ctx.speed.sessionsUnion) return undefined;
  try {
    const batch = ctx.batch;
    const extra = { key: idsKey(batch.version, 'sessions', q, b), ids: () => batch.sessionIds!(q.site, b.from, b.to, q.filters, q.conditions) };
    return await ctx.speed.sessionsUnion(q.site, s.from, s.to, extra, q.filters, q.conditions);
  } catch (err) {
    if (!(err instanceof UnsupportedQueryError)) throw err;
    return undefined;
  }
}

/**
 * Bounce rate and visit duration over a range spanning W with each visit taken whole (contract 9):
 * batch's visits of its part that may continue past W (last event within the idle timeout before
 * W; longer than any timeout a site sets) are joined by id with speed's visits, so a visit on both
 * sides is one visit with its page views added and its duration from batch's first to speed's last
 * event. The rest of batch's visits come in through its exact totals. Undefined when a store cannot
 * give its part, or under filters (speed keeps visits per site only): the caller weights the sides.
 */
const W_JOIN_MS = 24 * 3_600_000;

async function visitsAcross(q: TotalsQuery, b: RangePart, s: RangePart, ctx: MergeContext): Promise<{ bounce_rate: number; visit_duration: number } | undefined> {
  if (!ctx.batch?.visitParts || !ctx.speed.visitParts || isFiltered(q.filters, q.conditions)) return undefined;
  const [bt, near, speed] = await Promise.all([
    b.reader.totals({ ...q, metrics: ['sessions', 'bounce_rate', 'visit_duration'], from: b.from, to: b.to }),
    ctx.batch.visitParts(q.site, b.from, b.to, b.to - W_JOIN_MS),
    ctx.speed.visitParts(q.site, s.from, s.to, s.from),
  ]);
  if (bt.sessions === undefined || bt.bounce_rate === undefined || bt.visit_duration === undefined) return undefined;
  let n = bt.sessions;
  let bounces = bt.bounce_rate * bt.sessions;
  let durationS = bt.visit_duration * bt.sessions;
  for (const [id, sp] of speed) {
    const bp = near.get(id);
    if (bp) {
      // Batch counted its part already: replace it with the whole visit.
      bounces += (bp.pageviews + sp.pageviews <= 1 ? 1 : 0) - (bp.pageviews <= 1 ? 1 : 0);
      durationS += (Math.max(bp.last, sp.last) - Math.min(bp.first, sp.first) - (bp.last - bp.first)) / 1000;
    } else {
      n += 1;
      bounces += sp.pageviews <= 1 ? 1 : 0;
      durationS += (sp.last - sp.first) / 1000;
    }
  }
  return n === 0 ? { bounce_rate: 0, visit_duration: 0 } : { bounce_rate: bounces / n, visit_duration: durationS / n };
}

/** How many rows to ask each side for, so the merged top-k is right when ranks differ by side. */
export function fetchLimit(limit: number, sides: number, cap: number): number {
  return sides <= 1 ? limit : Math.min(cap, Math.max(limit * 3, limit + 50));
}

export async function mergeBreakdown(q: BreakdownQuery, ctx: MergeContext, options: { offset?: number; fetchCap?: number } = {}): Promise<MergedBreakdown> {
  const offset = options.offset ?? 0;
  const plan = await planRange({ site: q.site, from: q.from, to: q.to, choice: ctx.choice, now: ctx.now, batch: ctx.batch, speed: ctx.speed, zone: q.zone, need: 'events' });
  const meta = coverageMeta(plan, missingMinutes(plan), 0);
  const limit = fetchLimit(q.limit + offset, plan.parts.length, options.fetchCap ?? 1_000);
  const results = await Promise.all(plan.parts.map((p) => p.reader.breakdown({ ...q, limit, from: p.from, to: p.to })));
  const sums = new Map<string, number>();
  for (const rows of results) for (const r of rows) sums.set(r.value, (sums.get(r.value) ?? 0) + r.count);
  const rows = [...sums]
    .map(([value, count]) => ({ value, count }))
    .sort((x, y) => y.count - x.count || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0))
    .slice(offset, offset + q.limit);
  const sources: SourceName[] = plan.parts.map((p) => p.source);
  // Visitors per row are summed across W (an upper bound); anything from speed carries sketch error.
  const exact = plan.parts.length === 1 && plan.parts[0]!.reader.exact;
  return { dimension: q.dimension, metric: q.metric, rows, sources, exact, meta };
}
