/**
 * The one ground truth of every test: what the read contract (core/views.ts) must answer for a
 * list of raw events, computed in plain TypeScript from the definitions, never with the code
 * under test. It imports only the contract's types and its missing-value labels.
 *
 * Definitions (contract 7; batch/views.sql.ts is the production statement of the same):
 * - bots (`is_bot`) count only in `bot_pageviews` (their page views); every other metric is
 *   human traffic;
 * - `visitors` = distinct visitor ids, `sessions` = distinct visits over the bucket or range,
 *   never summed. A visit is contract 9's server rule, whatever session id the client sent: per
 *   site, visitor and bot flag, events in event-time order, a new visit when the gap since the
 *   previous event is above 30 minutes (SESSION_IDLE_MS, spelled out here), named by its start;
 *   visits are cut from every event given to the truth function, before any range or filter, so
 *   a visit across midnight or across W is one visit. sessionKey() is the one place this lives;
 * - a session bounces with at most one page view within the bucket; its duration is last − first
 *   event time within the bucket; bounce_rate and visit_duration (seconds) average over sessions;
 * - `events` = custom events (only `eventName` when asked), `purchases` = purchase events,
 *   `revenue` = their revenue_micros summed: integer micro-units, the contract's unit, of the
 *   purchases in the reporting currency only (never across currencies, contract 10); a breakdown
 *   by currency sums each currency's own purchases; non-purchases have no currency ('(none)');
 * - a breakdown groups by the labelled value (labelOf); by event name it leaves page views out;
 * - an event's channel is the first rule of core/channels.ts's table that holds, read here as
 *   the table is written (truthChannel), not through that module's channelOf() or its patterns.
 */
import { labelOf, type AnyDimension, type BreakdownQuery, type RangeQuery, type BreakdownRow, type Dimension, type FilterCondition, type Filters, type Grain, type Metric } from '../core/views.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { ANY_TLD, CHANNEL_RULES, FALLBACK_CHANNEL, SOURCE_CATEGORIES, SOURCE_SITES, type ChannelTest, type SourceCategory } from '../core/channels.ts';

/** The reporting currency of a site without one (core/sites.ts), spelled out here. */
const REPORTING_DEFAULT = 'USD';

export type TruthValues = Record<Metric, number>;
/** Bucket start (epoch ms) → values, every bucket of the range present, in order. */
export type TruthSeries = Map<number, TruthValues>;

const MINUTE_MS = 60 * 1000;

/** Local wall clock of `t` in `zone` by Intl alone (not core/calendar.ts): date, weekday, hour, minute. */
function wallParts(zone: string): (t: number) => { date: string; weekday: string; day: number; hour: number; minute: number } {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  return (t) => {
    const p: Record<string, string> = {};
    for (const part of f.formatToParts(t)) p[part.type] = part.value;
    return { date: `${p.year}-${p.month}-${p.day}`, weekday: p.weekday!, day: Number(p.day), hour: Number(p.hour), minute: Number(p.minute) };
  };
}

/** Index of the last of the sorted `starts` at or before `t`, or -1. */
function lastAtOrBefore(starts: readonly number[], t: number): number {
  let lo = -1;
  let hi = starts.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (starts[mid]! <= t) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Bucket starts of [floor(from), to) in the range's zone (UTC when absent), found by brute force:
 * every UTC quarter hour is looked at, and one starts a bucket when the local clock shows a whole hour
 * (hour grain), a new date (day), a new date that is a Monday (week) or the 1st (month).
 */
export function truthBucketStarts(from: number, to: number, grain: Grain, zone = 'UTC'): number[] {
  if (grain === 'minute') {
    const out: number[] = [];
    for (let t = Math.floor(from / MINUTE_MS) * MINUTE_MS; t < to; t += MINUTE_MS) out.push(t);
    return out;
  }
  const wall = wallParts(zone);
  const lookBack = { hour: 2, day: 2, week: 8, month: 32 }[grain] * 24 * 60 * MINUTE_MS;
  // Every UTC quarter hour is looked at: offsets and their changes fall on quarter hours.
  const STEP = 15 * MINUTE_MS;
  const starts: number[] = [];
  let prev = wall(Math.floor((from - lookBack) / STEP) * STEP - STEP);
  for (let t = Math.floor((from - lookBack) / STEP) * STEP; t < to; t += STEP) {
    const w = wall(t);
    const newDate = w.date !== prev.date;
    const starts_ = grain === 'hour' ? w.minute === 0 : grain === 'day' ? newDate : grain === 'week' ? newDate && w.weekday === 'Mon' : newDate && w.day === 1;
    if (starts_) starts.push(t);
    prev = w;
  }
  const first = lastAtOrBefore(starts, from);
  if (first < 0) throw new Error(`truth: no ${grain} start found before ${new Date(from).toISOString()} in ${zone}`);
  return starts.slice(first);
}

/** A query's range, filters, event name and reporting currency (USD when absent, as a site without one). */
export type TruthRange = RangeQuery;

/** One event per event id (the first seen): the pipeline dedupes by id. */
export function dedupe(events: Iterable<TwinlaneEvent>): TwinlaneEvent[] {
  const seen = new Map<string, TwinlaneEvent>();
  for (const e of events) if (!seen.has(e.event_id)) seen.set(e.event_id, e);
  return [...seen.values()];
}

/** Whether `host` is `domain` or a subdomain of it, label by label; ANY_TLD stands for a top-level domain of 2–3 letters, optionally followed by one of 2. */
function underDomain(host: string, domain: string): boolean {
  const labels = host.split('.');
  const want = domain.split('.');
  const endsWith = (ls: string[], suffix: string[]) => ls.length >= suffix.length && suffix.every((l, i) => ls[ls.length - suffix.length + i] === l);
  if (want[want.length - 1] !== ANY_TLD) return endsWith(labels, want);
  const base = want.slice(0, -1);
  const oneLabel = labels.length > 0 && /^[a-z]{2,3}$/.test(labels[labels.length - 1]!) && endsWith(labels.slice(0, -1), base);
  const twoLabels = labels.length > 1 && /^[a-z]{2,3}$/.test(labels[labels.length - 2]!) && /^[a-z]{2}$/.test(labels[labels.length - 1]!) && endsWith(labels.slice(0, -2), base);
  return oneLabel || twoLabels;
}

/**
 * The channel of an event, from core/channels.ts's table read as its comment defines it: tagged =
 * a utm_source, utm_medium or utm_campaign; the external referrer is the referrer host unless it is
 * the page's own (`www.` aside); the source is utm_source, else that referrer; every text lower-cased.
 */
export function truthChannel(e: TwinlaneEvent): string {
  const lower = (v: string | null) => (v === null || v === '' ? null : v.toLowerCase());
  const bare = (h: string) => (h.startsWith('www.') ? h.slice(4) : h);
  const refHost = lower(e.referrer_host);
  const ref = refHost !== null && bare(refHost) !== bare(e.hostname.toLowerCase()) ? refHost : null;
  const s = lower(e.utm_source), medium = lower(e.utm_medium) ?? '', campaign = lower(e.utm_campaign) ?? '';
  const tagged = s !== null || medium !== '' || campaign !== '';
  const src = s ?? ref;
  const category: SourceCategory | undefined = src === null ? undefined : SOURCE_CATEGORIES.find((c) => SOURCE_SITES[c].names.includes(src) || SOURCE_SITES[c].domains.some((d) => underDomain(src, d)));
  const holds = (t: ChannelTest): boolean => {
    switch (t.kind) {
      case 'untagged':
        return !tagged && (ref !== null) === t.referrer;
      case 'source':
        return category !== undefined && t.categories.includes(category);
      case 'medium':
        return new RegExp(t.pattern).test(medium);
      case 'campaign':
        return new RegExp(t.pattern).test(campaign);
      case 'any':
        return t.of.some(holds);
    }
  };
  return CHANNEL_RULES.find((r) => r.all.every(holds))?.channel ?? FALLBACK_CHANNEL;
}

/** The raw field behind a dimension. */
function rawValue(e: TwinlaneEvent, d: Dimension): string | null {
  switch (d) {
    case 'page':
      return e.path;
    case 'referrer':
      return e.referrer_host;
    case 'country':
      return e.country;
    case 'device':
      return e.device_type;
    case 'browser':
      return e.browser;
    case 'os':
      return e.os;
    case 'utm_source':
      return e.utm_source;
    case 'utm_medium':
      return e.utm_medium;
    case 'utm_campaign':
      return e.utm_campaign;
    case 'utm_term':
      return e.utm_term;
    case 'utm_content':
      return e.utm_content;
    case 'channel':
      return truthChannel(e);
    case 'event_name':
      return e.name;
    case 'currency':
      return e.currency;
  }
}

/** The value a store answers for an event's dimension: the value, or the contract's missing label. */
export function dimensionValue(e: TwinlaneEvent, d: AnyDimension): string {
  if (d.startsWith('prop:')) {
    // A custom property: the event's value of that key; absent or empty reads `(none)`.
    const v = e.properties?.[d.slice('prop:'.length)];
    return v === undefined || v === '' ? '(none)' : v;
  }
  return labelOf(d as Dimension, rawValue(e, d as Dimension));
}

/** Contract 9's idle timeout (the default of SESSION_IDLE_TIMEOUT), spelled out here. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;

/** Visit of each event (object) of an event list, by the 30-minute rule. */
export type Visits = ReadonlyMap<TwinlaneEvent, string>;
/** Per event list (a test may append to its list between two truths: the length tells). */
const visitCache = new WeakMap<readonly TwinlaneEvent[], { length: number; visits: Visits }>();

/** Cuts every visitor's events (per site and bot flag) into visits: a gap above idleMs starts a new one. */
export function visitsOf(events: readonly TwinlaneEvent[], idleMs = SESSION_IDLE_MS): Visits {
  const cached = idleMs === SESSION_IDLE_MS ? visitCache.get(events) : undefined;
  if (cached && cached.length === events.length) return cached.visits;
  const byVisitor = new Map<string, TwinlaneEvent[]>();
  for (const e of events) {
    const k = `${e.site_id}\u0000${e.visitor_id}\u0000${e.is_bot ? 1 : 0}`;
    let list = byVisitor.get(k);
    if (!list) byVisitor.set(k, (list = []));
    list.push(e);
  }
  const out = new Map<TwinlaneEvent, string>();
  for (const [k, list] of byVisitor) {
    list.sort((a, b) => a.event_time - b.event_time);
    let start = -Infinity;
    let prev = -Infinity;
    for (const e of list) {
      if (e.event_time - prev > idleMs) start = e.event_time;
      prev = e.event_time;
      out.set(e, `${k}\u0000${start}`);
    }
  }
  if (idleMs === SESSION_IDLE_MS) visitCache.set(events, { length: events.length, visits: out });
  return out;
}

function sessionKey(e: TwinlaneEvent, visits: Visits): string {
  const key = visits.get(e);
  if (key === undefined) throw new Error(`truth: event ${e.event_id} is not in the event list its visits were cut from`);
  return key;
}

/**
 * Whether an event passes one filter condition, spelled out from the operators' definitions:
 * is — the labelled value is one of the values; is_not — none of them; contains — the labelled
 * value has one of them as a (case-sensitive) substring; contains_not — none of them; matches
 * (goals' page paths) — the whole value fits one of the wildcard patterns (`*` any run).
 */
function passes(e: TwinlaneEvent, c: FilterCondition): boolean {
  return passesValue(dimensionValue(e, c.dimension), c);
}

function passesValue(value: string, c: FilterCondition): boolean {
  switch (c.op) {
    case 'is':
      return c.values.some((v) => v === value);
    case 'is_not':
      return c.values.every((v) => v !== value);
    case 'contains':
      return c.values.some((v) => value.indexOf(v) >= 0);
    case 'contains_not':
      return c.values.every((v) => value.indexOf(v) < 0);
    case 'matches':
      return c.values.some((p) => wildcardMatch(value, p));
  }
}

/** Whether all of `s` matches `pattern`, `*` standing for any run of characters: by dynamic programming, no regular expressions. */
function wildcardMatch(s: string, pattern: string): boolean {
  let row = [true, ...Array.from({ length: s.length }, () => false)];
  for (const ch of pattern) {
    const next = [ch === '*' && row[0]!];
    for (let i = 1; i <= s.length; i++) next.push(ch === '*' ? row[i]! || next[i - 1]! : row[i - 1]! && s[i - 1] === ch);
    row = next;
  }
  return row[s.length]!;
}

/** Events of one site in [from, to) matching every filter and every condition. */
export function selectEvents(events: readonly TwinlaneEvent[], r: TruthRange): TwinlaneEvent[] {
  const filters = Object.entries(r.filters ?? {}).filter(([, v]) => v !== undefined) as [Dimension, string][];
  const conditions = r.conditions ?? [];
  // A condition on a visit's entry or exit page: each visit's first (last) human page view in the range, before the filters.
  const visits = conditions.some((c) => c.dimension === 'entry_page' || c.dimension === 'exit_page') ? visitsOf(events) : undefined;
  const pages = new Map<string, Map<string, string>>();
  for (const c of conditions) {
    if ((c.dimension !== 'entry_page' && c.dimension !== 'exit_page') || pages.has(c.dimension)) continue;
    const byVisit = new Map<string, { t: number; page: string }>();
    for (const e of events) {
      if (e.site_id !== r.site || e.event_time < r.from || e.event_time >= r.to || e.is_bot || e.type !== 'pageview') continue;
      const key = sessionKey(e, visits!);
      const page = dimensionValue(e, 'page');
      const best = byVisit.get(key);
      const entry = c.dimension === 'entry_page';
      if (!best || (entry ? e.event_time < best.t || (e.event_time === best.t && page < best.page) : e.event_time > best.t || (e.event_time === best.t && page > best.page))) byVisit.set(key, { t: e.event_time, page });
    }
    pages.set(c.dimension, new Map([...byVisit].map(([k, v]) => [k, v.page])));
  }
  const pass = (e: TwinlaneEvent, c: FilterCondition): boolean => {
    if (c.dimension !== 'entry_page' && c.dimension !== 'exit_page') return passes(e, c);
    const page = pages.get(c.dimension)!.get(sessionKey(e, visits!));
    // A visit without a human page view in the range has no entry page: it passes no condition on one.
    return page !== undefined && passesValue(page, c);
  };
  return events.filter((e) => e.site_id === r.site && e.event_time >= r.from && e.event_time < r.to && filters.every(([d, v]) => dimensionValue(e, d) === v) && conditions.every((c) => pass(e, c)));
}

/**
 * Every metric over a set of events, all taken as one bucket; `visits` cut from the whole event
 * list the set was selected from (by default from the set itself).
 */
export function truthMetrics(events: readonly TwinlaneEvent[], eventName?: string, visits: Visits = visitsOf(events), currency: string = REPORTING_DEFAULT): TruthValues {
  let pageviews = 0;
  let botPageviews = 0;
  let customs = 0;
  let purchases = 0;
  let revenue = 0;
  const visitors = new Set<string>();
  const sessions = new Map<string, { pageviews: number; first: number; last: number }>();
  for (const e of events) {
    if (e.is_bot) {
      if (e.type === 'pageview') botPageviews += 1;
      continue;
    }
    visitors.add(e.visitor_id);
    const key = sessionKey(e, visits);
    const s = sessions.get(key) ?? { pageviews: 0, first: e.event_time, last: e.event_time };
    if (e.event_time < s.first) s.first = e.event_time;
    if (e.event_time > s.last) s.last = e.event_time;
    sessions.set(key, s);
    if (e.type === 'pageview') {
      pageviews += 1;
      s.pageviews += 1;
    } else if (e.type === 'custom') {
      if (eventName === undefined || e.name === eventName) customs += 1;
    } else {
      purchases += 1;
      if (e.currency === currency) revenue += e.revenue_micros ?? 0;
    }
  }
  const list = [...sessions.values()];
  let bounces = 0;
  let durationMs = 0;
  for (const s of list) {
    if (s.pageviews <= 1) bounces += 1;
    durationMs += s.last - s.first;
  }
  return {
    pageviews,
    visitors: visitors.size,
    sessions: list.length,
    events: customs,
    purchases,
    revenue,
    bounce_rate: list.length === 0 ? 0 : bounces / list.length,
    visit_duration: list.length === 0 ? 0 : durationMs / 1000 / list.length,
    bot_pageviews: botPageviews,
  };
}

/** The named metrics of a truth entry: the shape of a store's values, for toEqual. */
export function pickMetrics(values: TruthValues, metrics: readonly Metric[]): Partial<TruthValues> {
  const out: Partial<TruthValues> = {};
  for (const m of metrics) out[m] = values[m];
  return out;
}

/** Totals over a range: uniques distinct over the whole range. */
export function truthTotals(events: readonly TwinlaneEvent[], r: TruthRange): TruthValues {
  return truthMetrics(selectEvents(events, r), r.eventName, visitsOf(events), r.currency);
}

/**
 * One entry per bucket whose start lies in [floor(from), to), zero-valued buckets included, each
 * computed from the events of [max(start, from), min(next start, to)); buckets in `r.zone`.
 */
export function truthSeries(events: readonly TwinlaneEvent[], r: TruthRange & { grain: Grain }): TruthSeries {
  const starts = truthBucketStarts(r.from, r.to, r.grain, r.zone);
  const byBucket = new Map<number, TwinlaneEvent[]>(starts.map((s) => [s, []]));
  for (const e of selectEvents(events, r)) byBucket.get(starts[lastAtOrBefore(starts, e.event_time)]!)!.push(e);
  const visits = visitsOf(events);
  return new Map([...byBucket].map(([start, list]) => [start, truthMetrics(list, r.eventName, visits, r.currency)]));
}

/** Every row with a count above 0, highest first, ties by value (code units); callers cut to a limit. */
export function truthBreakdown(events: readonly TwinlaneEvent[], r: TruthRange & { dimension: AnyDimension; metric: BreakdownQuery['metric'] }): BreakdownRow[] {
  const groups = new Map<string, TwinlaneEvent[]>();
  for (const e of selectEvents(events, r)) {
    if (r.dimension === 'event_name' && e.type === 'pageview') continue;
    const v = dimensionValue(e, r.dimension);
    let list = groups.get(v);
    if (!list) groups.set(v, (list = []));
    list.push(e);
  }
  return [...groups]
    .map(([value, list]) => ({ value, count: truthMetrics(list, r.eventName, visitsOf(events), r.dimension === 'currency' ? value : r.currency)[r.metric] }))
    .filter((row) => row.count > 0)
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

/**
 * A breakdown by several dimensions: one row per combination of labelled values (`values`, in the
 * order asked), highest count first; page views are left out when one dimension is the event name.
 */
export function truthMultiBreakdown(events: readonly TwinlaneEvent[], r: TruthRange & { dimensions: readonly AnyDimension[]; metric: BreakdownQuery['metric'] }): { values: string[]; count: number }[] {
  const groups = new Map<string, { values: string[]; list: TwinlaneEvent[] }>();
  for (const e of selectEvents(events, r)) {
    if (r.dimensions.includes('event_name') && e.type === 'pageview') continue;
    const values = r.dimensions.map((d) => dimensionValue(e, d));
    const key = values.join('\u0000');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { values, list: [] }));
    g.list.push(e);
  }
  const currencyAt = r.dimensions.indexOf('currency');
  return [...groups.values()]
    .map((g) => ({ values: g.values, count: truthMetrics(g.list, r.eventName, visitsOf(events), currencyAt >= 0 ? g.values[currencyAt] : r.currency)[r.metric] }))
    .filter((row) => row.count > 0)
    .sort((a, b) => b.count - a.count);
}

/**
 * Entry (exit) pages: a human visit's entry page is the path of its first page view within the range
 * (its exit page, of its last; equal times: the smaller, the larger path), taken before the filters;
 * each selected event of the visit counts under it. Visits without a page view in the range have none.
 */
export function truthVisitPages(events: readonly TwinlaneEvent[], r: TruthRange & { which: 'entry' | 'exit'; metric: BreakdownQuery['metric'] }): BreakdownRow[] {
  const visits = visitsOf(events);
  const pages = new Map<string, TwinlaneEvent[]>();
  for (const e of selectEvents(events, { site: r.site, from: r.from, to: r.to })) {
    if (e.is_bot || e.type !== 'pageview') continue;
    const key = sessionKey(e, visits);
    let list = pages.get(key);
    if (!list) pages.set(key, (list = []));
    list.push(e);
  }
  const pageOf = new Map<string, string>();
  for (const [key, list] of pages) {
    const sorted = list.map((e) => ({ t: e.event_time, page: dimensionValue(e, 'page') })).sort((a, b) => a.t - b.t || (a.page < b.page ? -1 : a.page > b.page ? 1 : 0));
    pageOf.set(key, (r.which === 'entry' ? sorted[0] : sorted[sorted.length - 1])!.page);
  }
  const groups = new Map<string, TwinlaneEvent[]>();
  for (const e of selectEvents(events, r)) {
    const page = pageOf.get(sessionKey(e, visits));
    if (page === undefined) continue;
    let list = groups.get(page);
    if (!list) groups.set(page, (list = []));
    list.push(e);
  }
  return [...groups]
    .map(([value, list]) => ({ value, count: truthMetrics(list, r.eventName, visits, r.currency)[r.metric] }))
    .filter((row) => row.count > 0)
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
}

export interface TruthFunnelStep {
  kind: 'page' | 'event';
  value: string;
}

/** Distinct visitors that reached each step, in order, within one session (human traffic). */
export function truthFunnel(events: readonly TwinlaneEvent[], r: TruthRange & { steps: readonly TruthFunnelStep[] }): number[] {
  const bySession = new Map<string, TwinlaneEvent[]>();
  const visits = visitsOf(events);
  for (const e of selectEvents(events, r)) {
    if (e.is_bot) continue;
    let list = bySession.get(sessionKey(e, visits));
    if (!list) bySession.set(sessionKey(e, visits), (list = []));
    list.push(e);
  }
  const reached = r.steps.map(() => new Set<string>());
  for (const list of bySession.values()) {
    let i = 0;
    for (const e of [...list].sort((a, b) => a.event_time - b.event_time)) {
      const step = r.steps[i];
      if (!step) break;
      const hit = step.kind === 'page' ? e.type === 'pageview' && e.path === step.value : e.type !== 'pageview' && e.name === step.value;
      if (hit) reached[i++]!.add(e.visitor_id);
    }
  }
  return reached.map((s) => s.size);
}
