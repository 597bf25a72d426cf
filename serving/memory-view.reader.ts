/**
 * A ViewReader over an in-memory list of events, computed exactly. The pure unit tests of the
 * merge rule and of the HTTP app use it as either side (batch or speed), with any coverage,
 * so that what the merged answer should be is known to the event. It keeps the contract's
 * conventions (revenue in micros, labelOf() labels) and passes its shared suite
 * (memory-view.reader.contract.test.ts); the tests' expected numbers come from testing/truth.ts,
 * never from this reader.
 */
import { breakdownDimensions, breakdownKey, calendarOf, conditionMatches, DEFAULT_CURRENCY, isPropDimension, isVisitPageDimension, labelOf, labelOfAny, propKeyOf, type AnyDimension, type PropDimension, type VisitPageDimension, UnsupportedQueryError, reportingCurrency, type BreakdownQuery, type FilterCondition, type BreakdownRow, type Coverage, type Dimension, type MetricValues, type RangeQuery, type SeriesPoint, type SeriesQuery, type TotalsQuery, type ViewReader } from '../core/views.ts';
import { assignVisits } from '../core/sessions.ts';
import { channelOf } from '../core/channels.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import type { ExtraIds, FunnelQuery, FunnelStepResult } from './types.ts';

export interface MemoryViewOptions {
  source: 'batch' | 'speed';
  events: readonly TwinlaneEvent[];
  /** Coverage per site; a site not listed is not covered. */
  coverage: Record<string, Coverage>;
  version?: string;
  /** Contract 9's idle timeout (core/sessions.ts); default 30 minutes. */
  sessionIdleMs?: number;
}

export function dimensionValue(e: TwinlaneEvent, d: Dimension | PropDimension): string {
  if (isPropDimension(d)) return labelOfAny(d, e.properties[propKeyOf(d)]);
  switch (d) {
    case 'page':
      return labelOf(d, e.path);
    case 'referrer':
      return labelOf(d, e.referrer_host);
    case 'country':
      return labelOf(d, e.country);
    case 'device':
      return labelOf(d, e.device_type);
    case 'browser':
      return labelOf(d, e.browser);
    case 'os':
      return labelOf(d, e.os);
    case 'utm_source':
      return labelOf(d, e.utm_source);
    case 'utm_medium':
      return labelOf(d, e.utm_medium);
    case 'utm_campaign':
      return labelOf(d, e.utm_campaign);
    case 'utm_term':
      return labelOf(d, e.utm_term);
    case 'utm_content':
      return labelOf(d, e.utm_content);
    case 'channel':
      return channelOf(e);
    case 'event_name':
      return labelOf(d, e.name);
    case 'currency':
      return labelOf(d, e.currency);
  }
}

/**
 * The metrics of contract 7 over a set of events (bots count only in bot_pageviews; revenue in
 * micros, of the purchases in `currency` only: contract 10).
 */
export function computeMetrics(events: readonly TwinlaneEvent[], eventName?: string, currency = DEFAULT_CURRENCY): Required<MetricValues> {
  let pageviews = 0;
  let customs = 0;
  let purchases = 0;
  let revenue = 0;
  let bots = 0;
  const visitors = new Set<string>();
  const sessions = new Map<string, { pageviews: number; first: number; last: number }>();
  for (const e of events) {
    if (e.is_bot) {
      if (e.type === 'pageview') bots++;
      continue;
    }
    visitors.add(e.visitor_id);
    const s = sessions.get(e.session_id) ?? { pageviews: 0, first: e.event_time, last: e.event_time };
    s.first = Math.min(s.first, e.event_time);
    s.last = Math.max(s.last, e.event_time);
    if (e.type === 'pageview') {
      pageviews++;
      s.pageviews++;
    }
    sessions.set(e.session_id, s);
    if (e.type === 'custom' && (eventName === undefined || e.name === eventName)) customs++;
    if (e.type === 'purchase') {
      purchases++;
      if (e.currency === currency) revenue += e.revenue_micros ?? 0;
    }
  }
  const list = [...sessions.values()];
  const bounces = list.filter((s) => s.pageviews <= 1).length;
  const duration = list.reduce((n, s) => n + (s.last - s.first) / 1000, 0);
  return {
    pageviews,
    visitors: visitors.size,
    sessions: list.length,
    events: customs,
    purchases,
    revenue,
    bounce_rate: list.length ? bounces / list.length : 0,
    visit_duration: list.length ? duration / list.length : 0,
    bot_pageviews: bots,
  };
}

export class MemoryViewReader implements ViewReader {
  readonly source: 'batch' | 'speed';
  readonly exact: boolean;
  readonly version: string;
  /** Every call, for tests that check which side was asked what. */
  readonly calls: { method: string; from: number; to: number }[] = [];
  private readonly events: readonly TwinlaneEvent[];
  private readonly cover: Record<string, Coverage>;

  constructor(o: MemoryViewOptions) {
    this.source = o.source;
    this.exact = o.source === 'batch';
    // Sessions are the server's visits (core/sessions.ts), cut over every event it holds; the
    // client's session id is replaced, as the batch job does.
    const visits = assignVisits(o.events, o.sessionIdleMs);
    this.events = o.events.map((e) => ({ ...e, session_id: visits.get(e)! }));
    this.cover = o.coverage;
    this.version = o.version ?? 'v1';
  }

  async coverage(site: string): Promise<Coverage | null> {
    return this.cover[site] ?? null;
  }

  /** Events of the query, clipped to coverage (a store knows nothing outside it). */
  private select(q: RangeQuery): TwinlaneEvent[] {
    const cov = this.cover[q.site];
    if (!cov) return [];
    const from = Math.max(q.from, cov.from);
    const to = Math.min(q.to, cov.to);
    const filters = Object.entries(q.filters ?? {}) as [Dimension, string][];
    const conditions = q.conditions ?? [];
    // A visit's entry (exit) page within the range, before the filters: computed once per condition kind.
    const visitPages = new Map<VisitPageDimension, Map<string, string>>();
    for (const c of conditions) if (isVisitPageDimension(c.dimension) && !visitPages.has(c.dimension)) visitPages.set(c.dimension, this.visitPages({ ...q, filters: {}, conditions: [] }, c.dimension === 'entry_page' ? 'entry' : 'exit'));
    const passes = (e: TwinlaneEvent, c: FilterCondition): boolean => {
      if (!isVisitPageDimension(c.dimension)) return conditionMatches(c, dimensionValue(e, c.dimension));
      const page = visitPages.get(c.dimension)!.get(e.session_id);
      return page !== undefined && conditionMatches(c, page);
    };
    return this.events.filter((e) => e.site_id === q.site && e.event_time >= from && e.event_time < to && filters.every(([d, v]) => dimensionValue(e, d) === v) && conditions.every((c) => passes(e, c)));
  }

  /** Each visit's entry (exit) page among the human page views of `q` (ties in time: the smaller, the larger path). */
  private visitPages(q: RangeQuery, which: 'entry' | 'exit'): Map<string, string> {
    const pageOf = new Map<string, { t: number; page: string }>();
    for (const e of this.select(q)) {
      if (e.is_bot || e.type !== 'pageview') continue;
      const page = dimensionValue(e, 'page');
      const best = pageOf.get(e.session_id);
      const better = !best || (which === 'entry' ? e.event_time < best.t || (e.event_time === best.t && page < best.page) : e.event_time > best.t || (e.event_time === best.t && page > best.page));
      if (better) pageOf.set(e.session_id, { t: e.event_time, page });
    }
    return new Map([...pageOf].map(([k, v]) => [k, v.page]));
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    this.calls.push({ method: 'series', from: q.from, to: q.to });
    const cov = this.cover[q.site];
    if (!cov) return [];
    const cal = calendarOf(q);
    const byBucket = new Map<number, TwinlaneEvent[]>();
    for (const e of this.select(q)) {
      const b = cal.floor(e.event_time, q.grain);
      byBucket.set(b, [...(byBucket.get(b) ?? []), e]);
    }
    const out: SeriesPoint[] = [];
    for (const start of cal.buckets(q.from, q.to, q.grain)) {
      if (cal.next(start, q.grain) <= cov.from || start >= cov.to) continue;
      const all = computeMetrics(byBucket.get(start) ?? [], q.eventName, reportingCurrency(q));
      const values: MetricValues = {};
      for (const m of q.metrics) values[m] = all[m];
      out.push({ start, values });
    }
    return out;
  }

  async totals(q: TotalsQuery): Promise<MetricValues> {
    this.calls.push({ method: 'totals', from: q.from, to: q.to });
    const all = computeMetrics(this.select(q), q.eventName, reportingCurrency(q));
    const values: MetricValues = {};
    for (const m of q.metrics) values[m] = all[m];
    return values;
  }

  async breakdown(q: BreakdownQuery): Promise<BreakdownRow[]> {
    this.calls.push({ method: 'breakdown', from: q.from, to: q.to });
    const dims = breakdownDimensions(q);
    if (q.visitPage) return this.visitPageBreakdown(q);
    const groups = new Map<string, TwinlaneEvent[]>();
    const valuesOf = new Map<string, string[]>();
    for (const e of this.select(q)) {
      if (dims.includes('event_name') && e.type === 'pageview') continue;
      const values = dims.map((d) => {
        if (isVisitPageDimension(d)) throw new UnsupportedQueryError(`${d} is a filter; a breakdown by it is visitPage`);
        return dimensionValue(e, d);
      });
      const v = dims.length > 1 ? breakdownKey(values) : values[0]!;
      valuesOf.set(v, values);
      groups.set(v, [...(groups.get(v) ?? []), e]);
    }
    const currencyAt = dims.indexOf('currency');
    return [...groups]
      .map(([value, evs]) => ({ value, ...(dims.length > 1 ? { values: valuesOf.get(value)! } : {}), count: computeMetrics(evs, undefined, currencyAt >= 0 ? valuesOf.get(value)![currencyAt]! : reportingCurrency(q))[q.metric] }))
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
      .slice(0, q.limit);
  }

  /** Events grouped by their visit's entry (exit) page, taken over the range before the filters. */
  private visitPageBreakdown(q: BreakdownQuery): BreakdownRow[] {
    const pageOf = this.visitPages({ ...q, filters: {}, conditions: [] }, q.visitPage!);
    const groups = new Map<string, TwinlaneEvent[]>();
    for (const e of this.select(q)) {
      const v = pageOf.get(e.session_id);
      if (v !== undefined) groups.set(v, [...(groups.get(v) ?? []), e]);
    }
    return [...groups]
      .map(([value, evs]) => ({ value, count: computeMetrics(evs, undefined, reportingCurrency(q))[q.metric] }))
      .filter((r) => r.count > 0)
      .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
      .slice(0, q.limit);
  }

  async *visitorIds(site: string, from: number, to: number, filters?: RangeQuery['filters'], conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    this.calls.push({ method: 'visitorIds', from, to });
    yield [...new Set(this.select({ site, from, to, filters, ...(conditions ? { conditions } : {}) }).filter((e) => !e.is_bot).map((e) => e.visitor_id))];
  }

  async visitorsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: RangeQuery['filters'], conditions?: readonly FilterCondition[]): Promise<number> {
    this.calls.push({ method: 'visitorsUnion', from, to });
    const ids = new Set<string>();
    for await (const chunk of extra.ids()) for (const id of chunk) ids.add(id);
    for (const e of this.select({ site, from, to, filters, ...(conditions ? { conditions } : {}) })) if (!e.is_bot) ids.add(e.visitor_id);
    return ids.size;
  }

  async *sessionIds(site: string, from: number, to: number, filters?: RangeQuery['filters'], conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    this.calls.push({ method: 'sessionIds', from, to });
    yield [...new Set(this.select({ site, from, to, filters, ...(conditions ? { conditions } : {}) }).filter((e) => !e.is_bot).map((e) => e.session_id))];
  }

  async sessionsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: RangeQuery['filters'], conditions?: readonly FilterCondition[]): Promise<number> {
    this.calls.push({ method: 'sessionsUnion', from, to });
    const ids = new Set<string>();
    for await (const chunk of extra.ids()) for (const id of chunk) ids.add(id);
    for (const e of this.select({ site, from, to, filters, ...(conditions ? { conditions } : {}) })) if (!e.is_bot) ids.add(e.session_id);
    return ids.size;
  }

  async funnel(q: FunnelQuery): Promise<FunnelStepResult[]> {
    this.calls.push({ method: 'funnel', from: q.from, to: q.to });
    const bySession = new Map<string, TwinlaneEvent[]>();
    for (const e of this.select(q)) if (!e.is_bot) bySession.set(e.session_id, [...(bySession.get(e.session_id) ?? []), e]);
    const reached = q.steps.map(() => new Set<string>());
    for (const evs of bySession.values()) {
      evs.sort((a, b) => a.event_time - b.event_time);
      let i = 0;
      for (const e of evs) {
        const step = q.steps[i];
        if (!step) break;
        const match = step.kind === 'page' ? e.type === 'pageview' && e.path === step.value : e.type !== 'pageview' && e.name === step.value;
        if (match) reached[i++]!.add(e.visitor_id);
      }
    }
    return q.steps.map((step, i) => ({ step, visitors: reached[i]!.size }));
  }
}
