/**
 * The speed side of the read contract (core/views.ts ViewReader) over the Redis minute
 * buckets, plus realtime queries and the visitor union the serving layer needs across W.
 * Uniques over any range are HyperLogLog unions (PFCOUNT over many keys), never sums.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../core/redis-client.ts';
import { DependencyError, UsageError } from '../core/errors.ts';
import {
  breakdownDimensions,
  breakdownKey,
  calendarOf,
  MISSING_LABEL,
  reportingCurrency,
  UnsupportedQueryError,
  alignDown,
  type BreakdownQuery,
  type BreakdownRow,
  type Coverage,
  type FilterCondition,
  type Filters,
  isFiltered,
  isPropDimension,
  propKeyOf,
  type Metric,
  type MetricValues,
  type SeriesPoint,
  type SeriesQuery,
  type TotalsQuery,
  type ViewReader,
} from '../core/views.ts';
import { COUNTER_METRICS, counterMode, matchesTuple, sketchFor, activeFilters, checkVisitMetrics, MAX_SCANNED_SETS, MAX_VALUE_SKETCHES, type CounterMode, type SketchChoice, type TupleMatch } from './query.planner.ts';
import { CURRENCY_INDEX, DAY_MINUTES, HASH_TABLE_FIELD, HLL_DIMS, HOUR_MINUTES, MINUTE_MS, TUPLE_DIMS, parseTupleField, parseVisitPart, revenueField, toMinute, type SiteKeys, type SpeedKeys, type TupleDim } from './redis.keys.ts';
import type { RealtimeSnapshot } from './types.ts';

export interface SpeedReaderDeps {
  redis: RedisClient;
  keys: SpeedKeys;
  ttlMs: number;
  clock?: () => number;
}

type Pipe = ReturnType<RedisClient['pipeline']>;
/** Minutes are epoch minutes; a span is [from, to) of them. */
type Span = { from: number; to: number; open?: boolean };

/**
 * The keys a union over `minutes` (ascending, contiguous) reads: an hour's key for each whole hour
 * within them, a minute's key at the edges. 48 hours take 48 keys, not 2,880.
 */
export function unionSources(minutes: readonly number[], minuteKey: (m: number) => string, hourKey: (h: number) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < minutes.length; ) {
    const m = minutes[i]!;
    if (m % 60 === 0 && i + 59 < minutes.length && minutes[i + 59] === m + 59) {
      out.push(hourKey(m / 60));
      i += 60;
    } else {
      out.push(minuteKey(m));
      i++;
    }
  }
  return out;
}

/**
 * A span's minutes by the keys that hold them whole: a UTC day's key for each whole day, an
 * hour's for each whole hour, a minute's at the edges. A week takes about 7 keys, not 10,080.
 * Only for spans inside coverage (reader spans are clipped to it): a day or hour key is read only
 * where every minute of it is covered, so a key that also holds events from before coverage
 * began (the day holding W, a rebuild's start) is never read whole. `open`: the span ends where
 * coverage does (now), so today's day key, or this hour's, stands for the rest of it: what it
 * holds past the span is only events stamped ahead of now (CLOCK_SKEW_FUTURE, minutes).
 */
export function coarseSources(span: Span, open = false): { days: number[]; hours: number[]; minutes: number[] } {
  const out = { days: [] as number[], hours: [] as number[], minutes: [] as number[] };
  for (let m = span.from; m < span.to; ) {
    if (m % DAY_MINUTES === 0 && (m + DAY_MINUTES <= span.to || open)) {
      out.days.push(m / DAY_MINUTES);
      m += DAY_MINUTES;
    } else if (m % HOUR_MINUTES === 0 && (m + HOUR_MINUTES <= span.to || open)) {
      out.hours.push(m / HOUR_MINUTES);
      m += HOUR_MINUTES;
    } else out.minutes.push(m++);
  }
  return out;
}

function minutesOf(span: Span): number[] {
  const out: number[] = [];
  for (let m = span.from; m < span.to; m++) out.push(m);
  return out;
}

/**
 * The batch side's ids of a union across W: a sketch in Redis' dense format standing for some of
 * them (whole days), and the rest streamed in chunks; `key` names them for reuse.
 */
export interface ExtraIds {
  key?: string;
  sketch?: () => Promise<Buffer | null>;
  ids: () => AsyncIterable<readonly string[]>;
}

/**
 * Counts a union of day sketches with other keys: KEYS 1 the union, 2 the index of unions, then
 * ARGV[1] day keys, then the others; ARGV[2] the union's TTL. The union is made from the day keys
 * when missing (and listed, so the apply script deletes it when a write reaches one of its days).
 */
const UNION_COUNT_LUA = `
local n = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('PFMERGE', KEYS[1], unpack(KEYS, 3, 2 + n))
  redis.call('SADD', KEYS[2], KEYS[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if #KEYS > 2 + n then return redis.call('PFCOUNT', KEYS[1], unpack(KEYS, 3 + n, #KEYS)) end
return redis.call('PFCOUNT', KEYS[1])
`;
/** Fewest whole past days a union is made of (below it, counting the day keys costs about the same). */
const MIN_UNION_DAYS = 3;
/** A union unused this long leaves (one per site, metric and range asked: bounded by the days kept). */
const UNION_TTL_MS = 10 * 60_000;
type UnionPipe = { speedUnionCount(numKeys: number, ...args: string[]): unknown };

/**
 * Page views of the members of sorted sets (KEYS) passing a condition: ARGV[1] the operator, then
 * its values. `is` looks its values up; the others scan every member (at most SPEED_MAX_MEMBERS
 * per key), so the caller bounds the keys. Contains is a plain substring test (string.find plain).
 */
const ZSET_MATCH_SUM_LUA = `
local op = ARGV[1]
local total = 0
-- A wildcard pattern (* any run of characters) against the whole member, by plain finds.
local function glob(m, p)
  local parts = {}
  for piece in string.gmatch(p .. '*', '([^*]*)%*') do parts[#parts + 1] = piece end
  if #parts == 1 then return m == parts[1] end
  if string.sub(m, 1, #parts[1]) ~= parts[1] then return false end
  local pos = #parts[1] + 1
  for i = 2, #parts - 1 do
    if parts[i] ~= '' then
      local _, e = string.find(m, parts[i], pos, true)
      if not e then return false end
      pos = e + 1
    end
  end
  local last = parts[#parts]
  return #m - #last + 1 >= pos and string.sub(m, #m - #last + 1) == last
end
for _, key in ipairs(KEYS) do
  if op == 'is' then
    for i = 2, #ARGV do
      local s = redis.call('ZSCORE', key, ARGV[i])
      if s then total = total + tonumber(s) end
    end
  else
    local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for j = 1, #all, 2 do
      local m = all[j]
      local hit = false
      for i = 2, #ARGV do
        if op == 'is_not' then hit = (m == ARGV[i]) elseif op == 'matches' then hit = glob(m, ARGV[i]) else hit = (string.find(m, ARGV[i], 1, true) ~= nil) end
        if hit then break end
      end
      if hit == (op == 'contains' or op == 'matches') then total = total + tonumber(all[j + 1]) end
    end
  end
end
return total
`;
type MatchPipe = { speedZsetMatchSum(numKeys: number, ...args: string[]): unknown };

/** Sketches of extra ids kept by key (each at most 12 KB, Redis' dense HyperLogLog). */
const EXTRA_SKETCHES = 256;

export class SpeedReader implements ViewReader {
  readonly source = 'speed' as const;
  readonly exact = false;
  private readonly now: () => number;
  private readonly extraSketches = new Map<string, Buffer>();

  constructor(private readonly deps: SpeedReaderDeps) {
    this.now = deps.clock ?? Date.now;
    if (!('speedUnionCount' in deps.redis)) deps.redis.defineCommand('speedUnionCount', { lua: UNION_COUNT_LUA });
    if (!('speedZsetMatchSum' in deps.redis)) deps.redis.defineCommand('speedZsetMatchSum', { lua: ZSET_MATCH_SUM_LUA });
  }

  /**
   * From the latest of retention, the last rebuild/retirement and the start of the site's epoch, to
   * the end of this minute; none without an epoch (the site's data was lost, or never written):
   * buckets are then missing, never zeros (speed/epoch.store.ts).
   */
  async coverage(site: string): Promise<Coverage | null> {
    const keys = this.deps.keys.site(site);
    const [metaFrom, [epochId, epochFrom]] = (await this.exec(this.deps.redis.pipeline().hget(keys.meta, 'from').hmget(keys.epoch, 'id', 'from'))) as [string | null, [string | null, string | null]];
    if (!epochId) return null;
    const now = this.now();
    const retention = Math.ceil((now - this.deps.ttlMs) / MINUTE_MS) * MINUTE_MS;
    const from = Math.max(retention, metaFrom ? Number(metaFrom) : -Infinity, Number(epochFrom ?? 0));
    const to = alignDown(now, 'minute') + MINUTE_MS;
    return from < to ? { from, to } : null;
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    this.checkRange(q.from, q.to);
    const cov = q.coverage ?? (await this.coverage(q.site));
    if (!cov) return [];
    // Local hours, days, weeks and months are runs of UTC minutes (every offset is whole minutes).
    const cal = calendarOf(q);
    const buckets: { start: number; span: Span }[] = [];
    for (const start of cal.buckets(q.from, q.to, q.grain)) {
      if (start < cov.from || start >= cov.to) continue;
      buckets.push({ start, span: this.span(Math.max(start, q.from), Math.min(cal.next(start, q.grain), q.to), cov) });
    }
    const values = await this.compute(q.site, buckets.map((b) => b.span), q.metrics, q.filters, q.eventName, reportingCurrency(q), q.conditions);
    return buckets.map((b, i) => ({ start: b.start, values: values[i]! }));
  }

  async totals(q: TotalsQuery): Promise<MetricValues> {
    this.checkRange(q.from, q.to);
    const cov = q.coverage ?? (await this.coverage(q.site));
    if (!cov) return {};
    const [values] = await this.compute(q.site, [this.span(q.from, q.to, cov)], q.metrics, q.filters, q.eventName, reportingCurrency(q), q.conditions);
    return values!;
  }

  async breakdown(q: BreakdownQuery): Promise<BreakdownRow[]> {
    this.checkRange(q.from, q.to);
    if (!Number.isInteger(q.limit) || q.limit < 1) throw new UsageError('BAD_LIMIT', `limit must be a whole number >= 1, got ${q.limit}`);
    const cov = q.coverage ?? (await this.coverage(q.site));
    if (!cov) return [];
    const minutes = minutesOf(this.span(q.from, q.to, cov));
    const keys = this.deps.keys.site(q.site);
    const filters = activeFilters(q.filters);
    const dims = breakdownDimensions(q);
    if (q.visitPage) throw new UnsupportedQueryError(`speed keeps no pages per visit, so no ${q.visitPage} pages`);
    const prop = dims.find(isPropDimension);
    if (prop) {
      // A listed property's values are kept per minute and hour apart from the tuples, as pages are.
      if (dims.length > 1) throw new UnsupportedQueryError(`speed keeps each custom property's values apart from the other dimensions, so it breaks one down alone (asked: ${dims.join(' × ')})`);
      if ((q.metric !== 'pageviews' && q.metric !== 'events') || isFiltered(filters, q.conditions) || q.eventName !== undefined) {
        throw new UnsupportedQueryError(`speed counts page views and custom events per custom property value, without filters (asked: ${q.metric}, ${Object.keys(filters).length + (q.conditions?.length ?? 0)} filters)`);
      }
      const key = propKeyOf(prop);
      const kind = q.metric === 'pageviews' ? 'p' : 'e';
      if (minutes.length === 0) return [];
      // Minutes with events from before the key was listed hold none of its values: no answer rather than no rows.
      const since = await this.deps.redis.hget(keys.propsSince, key).catch((err: unknown) => this.fail(err));
      const unkept = since === null ? minutes.at(-1)! : Number(since) - 1;
      if (unkept >= minutes[0]! && (await this.deps.redis.zcount(keys.index, minutes[0]!, unkept).catch((err: unknown) => this.fail(err))) > 0) {
        throw new UnsupportedQueryError(`speed keeps the values of the property "${key}" only from ${since === null ? 'when the sites file lists it and an event arrives' : new Date(Number(since) * MINUTE_MS).toISOString()} on; ask from then, or source=batch`);
      }
      return this.topMembers(keys, unionSources(minutes, (m) => keys.props(m, kind, key), (h) => keys.propsHour(h, kind, key)), q.limit);
    }
    if (dims.length > 1 && dims.some((d) => d === 'page' || d === 'referrer')) {
      throw new UnsupportedQueryError(`speed keeps page views per page and per referrer apart from the other dimensions, so it breaks them down alone (asked: ${dims.join(' × ')})`);
    }
    if (dims.length > 1 && q.metric === 'visitors') throw new UnsupportedQueryError(`speed keeps visitor sketches per single ${HLL_DIMS.join('/')} value, so it ranks no combination of dimensions by visitors (asked: ${dims.join(' × ')})`);
    if (q.dimension === 'page' || q.dimension === 'referrer') {
      if (q.metric !== 'pageviews' || isFiltered(filters, q.conditions)) {
        throw new UnsupportedQueryError(`speed ranks ${q.dimension}s by unfiltered page views only (asked: ${q.metric}, ${Object.keys(filters).length + (q.conditions?.length ?? 0)} filters)`);
      }
      const page = q.dimension === 'page';
      return this.topMembers(keys, unionSources(minutes, (m) => (page ? keys.pages(m) : keys.referrers(m)), (h) => (page ? keys.pagesHour(h) : keys.referrersHour(h))), q.limit);
    }
    // Page views carry no event name (their tuples file them under `pageview`): like batch, an
    // event-name breakdown of page views has no rows, rather than one `pageview` row on this side of W.
    if (dims.includes('event_name') && q.metric === 'pageviews') return [];
    if (q.metric === 'visitors') return this.visitorBreakdown(q, keys, minutes, filters);
    const metric = COUNTER_METRICS[q.metric]!;
    const mode = counterMode([q.metric], filters, q.eventName, undefined, q.conditions);
    // Tuples hold no page or referrer: a breakdown under such a filter has nothing to rank by.
    if (mode.kind === 'zset' || mode.kind === 'zsetMatch') throw new UnsupportedQueryError(`speed cannot break ${q.dimension} down under a page or referrer filter (it keeps page views per page apart from the other dimensions)`);
    // Revenue in the reporting currency, except by currency: each row is its own currency's sum.
    const match: TupleMatch = { ...(mode.kind === 'tuples' ? mode.match : { dims: [] }), ...(dims.includes('currency') ? {} : { revenueCurrency: reportingCurrency(q) }) };
    const dimIndexes = dims.map((d) => (d === 'event_name' ? -1 : d === 'currency' ? CURRENCY_INDEX : TUPLE_DIMS.indexOf(d as TupleDim)));
    const sums = new Map<string, number>();
    const valuesOf = new Map<string, string[]>();
    for (const hash of await this.hashes(keys, minutes)) {
      for (const [field, raw] of Object.entries(hash)) {
        const t = parseTupleField(field);
        if (!t || t.kind !== metric.kind || !matchesTuple(match, t.kind, t.name, t.dims)) continue;
        const values = dimIndexes.map((i) => (i < 0 ? t.name : (t.dims[i] ?? MISSING_LABEL.currency)));
        const value = values.length > 1 ? breakdownKey(values) : values[0]!;
        if (values.length > 1 && !valuesOf.has(value)) valuesOf.set(value, values);
        sums.set(value, (sums.get(value) ?? 0) + Number(raw));
      }
    }
    const rows = rank(sums, q.limit);
    return dims.length > 1 ? rows.map((r) => ({ ...r, values: valuesOf.get(r.value)! })) : rows;
  }

  /** Visitors active in the last 5 minutes and page views per minute over the last 30. */
  async realtime(site: string): Promise<RealtimeSnapshot> {
    const at = this.now();
    const current = toMinute(at);
    const keys = this.deps.keys.site(site);
    const last30 = minutesOf({ from: current - 29, to: current + 1 });
    const pipe = this.deps.redis.pipeline();
    pipe.pfcount(...last30.slice(-5).map((m) => keys.visitors(m)));
    for (const m of last30) pipe.hget(keys.counters(m), COUNTER_METRICS.pageviews!.agg);
    const res = await this.exec(pipe);
    return {
      site,
      at,
      visitorsLast5m: Number(res[0]),
      pageviewsPerMinute: last30.map((m, i) => ({ start: m * MINUTE_MS, pageviews: Number(res[i + 1] ?? 0) })),
    };
  }

  /**
   * Unique visitors of [from, to) united with visitor ids from elsewhere (the batch side's,
   * before W), in one sketch: a visitor on both sides counts once, up to HLL error.
   */
  async visitorsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: Filters, conditions?: readonly FilterCondition[]): Promise<number> {
    const sketch = sketchFor('visitors', filters, conditions);
    const keys = this.deps.keys.site(site);
    return this.sketchUnion(site, from, to, async (span) => (sketch ? (await this.valueSketches(keys, [span], sketch))[0]! : sketchSources(keys, 'visitors', span)), extra);
  }

  /**
   * Sessions of [from, to) with extra visit ids (the batch side's, before W): both name a visit
   * `visitor@start-ms`, so a visit on both sides of W counts once (contract 9). Unfiltered only.
   */
  async sessionsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: Filters, conditions?: readonly FilterCondition[]): Promise<number> {
    sketchFor('sessions', filters, conditions);
    const keys = this.deps.keys.site(site);
    return this.sketchUnion(site, from, to, (span) => sketchSources(keys, 'sessions', span), extra);
  }

  /**
   * The extra ids' sketch: kept by their key (12 KB at most each, EXTRA_SKETCHES of them), else
   * made in Redis from the given sketch and the ids chunk by chunk as they stream in, so the
   * process never holds them all.
   */
  private async extraSketch(site: string, extra: ExtraIds): Promise<Buffer> {
    const kept = extra.key === undefined ? undefined : this.extraSketches.get(extra.key);
    if (kept) {
      this.extraSketches.delete(extra.key!);
      this.extraSketches.set(extra.key!, kept);
      return kept;
    }
    const tmp = this.deps.keys.site(site).temp(randomUUID());
    try {
      const given = extra.sketch ? await extra.sketch() : null;
      await this.exec(given ? this.deps.redis.pipeline().set(tmp, given, 'PX', 60_000) : this.deps.redis.pipeline().pfadd(tmp).pexpire(tmp, 60_000));
      for await (const chunk of extra.ids()) {
        for (let i = 0; i < chunk.length; i += 10_000) await this.deps.redis.pfadd(tmp, ...(chunk.length <= 10_000 ? chunk : chunk.slice(i, i + 10_000))).catch((err: unknown) => this.fail(err));
      }
      const [blob] = await this.exec(this.deps.redis.pipeline().getBuffer(tmp));
      const sketch = blob as Buffer;
      if (extra.key !== undefined) {
        this.extraSketches.set(extra.key, sketch);
        if (this.extraSketches.size > EXTRA_SKETCHES) this.extraSketches.delete(this.extraSketches.keys().next().value!);
      }
      return sketch;
    } finally {
      await this.deps.redis.unlink(tmp).catch(() => undefined);
    }
  }

  private async sketchUnion(site: string, from: number, to: number, sourcesOf: (span: Span) => string[] | Promise<string[]>, extra: ExtraIds): Promise<number> {
    this.checkRange(from, to);
    const cov = await this.coverage(site);
    const keys = this.deps.keys.site(site);
    const sources = cov ? await sourcesOf(this.span(from, to, cov)) : [];
    const sketch = await this.extraSketch(site, extra);
    const tmp = keys.temp(randomUUID());
    const pipe = this.deps.redis.pipeline();
    pipe.set(tmp, sketch, 'PX', 60_000);
    for (let i = 0; i < sources.length; i += 2000) pipe.pfmerge(tmp, ...sources.slice(i, i + 2000));
    pipe.pfcount(tmp);
    pipe.unlink(tmp);
    const res = await this.exec(pipe);
    return Number(res[res.length - 2]);
  }

  private checkRange(from: number, to: number): void {
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) throw new UsageError('BAD_RANGE', `range [${from}, ${to}) is empty or not a pair of epoch milliseconds`);
  }

  /** Minutes of [from, to) clipped to coverage; `open` when it reaches the end of coverage (now). */
  private span(from: number, to: number, cov: Coverage): Span {
    const f = toMinute(Math.max(from, cov.from));
    const t = Math.ceil(Math.min(to, cov.to) / MINUTE_MS);
    return { from: f, to: Math.max(f, t), ...(t * MINUTE_MS >= cov.to ? { open: true } : {}) };
  }

  /** Values of each span: counters summed over its minutes (revenue in `currency`), uniques by one HLL union per span. */
  private async compute(site: string, spans: Span[], metrics: readonly Metric[], filters: Filters | undefined, eventName: string | undefined, currency: string, conditions: readonly FilterCondition[] = []): Promise<MetricValues[]> {
    const counters = metrics.filter((m) => COUNTER_METRICS[m]);
    const mode = counters.length > 0 ? counterMode(counters, filters, eventName, currency, conditions) : undefined;
    const sketches = (['visitors', 'sessions'] as const).filter((m) => metrics.includes(m)).map((m) => ({ metric: m, dv: sketchFor(m, filters, conditions) }));
    const visitMetrics = checkVisitMetrics(metrics, filters, conditions);
    const keys = this.deps.keys.site(site);
    const out: MetricValues[] = spans.map(() => ({}));
    if (visitMetrics) {
      const perSpan = await this.visitValues(keys, spans);
      spans.forEach((_, i) => {
        if (metrics.includes('bounce_rate')) out[i]!.bounce_rate = perSpan[i]!.bounce_rate;
        if (metrics.includes('visit_duration')) out[i]!.visit_duration = perSpan[i]!.visit_duration;
      });
    }
    // Unfiltered counters and the visitor/session sketches go to Redis in one pipeline: one
    // round trip and one socket write a query instead of two (most of a cold query's own CPU).
    const chosen = new Map(await Promise.all(sketches.filter((s) => s.dv).map(async (s) => [s.metric, await this.valueSketches(keys, spans, s.dv!)] as const)));
    const pipe = this.deps.redis.pipeline();
    const readCounters = mode?.kind === 'aggregate' ? this.queueAggregate(pipe, keys, spans, counters, currency) : undefined;
    const sketchesAt = pipe.length;
    for (const [i, span] of spans.entries()) {
      for (const s of sketches) {
        const plan: ReturnType<typeof sketchPlan> = s.dv ? { keys: chosen.get(s.metric)![i]! } : sketchPlan(keys, s.metric, span);
        if (plan.union) {
          const all = [plan.union.key, keys.daysUnions, ...plan.union.days, ...plan.keys];
          (pipe as unknown as UnionPipe).speedUnionCount(all.length, ...all, String(plan.union.days.length), String(UNION_TTL_MS));
        } else if (plan.keys.length === 0) pipe.echo('0');
        else pipe.pfcount(...plan.keys);
      }
    }
    const res = await this.exec(pipe);
    if (readCounters) {
      const perSpan = readCounters(res);
      spans.forEach((_, i) => Object.assign(out[i]!, perSpan[i]));
    } else if (mode?.kind === 'zsetMatch') {
      const perSpan = await this.matchedPageviews(keys, spans, mode);
      spans.forEach((_, i) => (out[i]!.pageviews = perSpan[i]!));
    } else if (mode) {
      const perMinute = await this.counterValues(keys, spans.flatMap(minutesOf), counters, mode, currency);
      spans.forEach((span, i) => {
        for (const m of counters) out[i]![m] = 0;
        for (let min = span.from; min < span.to; min++) {
          const v = perMinute.get(min);
          if (v) for (const m of counters) out[i]![m]! += v[m] ?? 0;
        }
      });
    }
    if (sketches.length > 0) spans.forEach((_, i) => sketches.forEach((s, j) => (out[i]![s.metric] = Number(res[sketchesAt + i * sketches.length + j]))));
    return out;
  }

  /**
   * The per-value visitor sketches of each span's minutes whose value `choice` lets pass: the
   * values themselves when known, else those each minute's index lists (one SMEMBERS a minute).
   */
  private async valueSketches(keys: SiteKeys, spans: Span[], choice: SketchChoice): Promise<string[][]> {
    const prefix = `${choice.dimension}:`;
    const bounded = (lists: string[][]): string[][] => {
      const n = lists.reduce((sum, l) => sum + l.length, 0);
      if (n > MAX_VALUE_SKETCHES) throw new UnsupportedQueryError(`speed unites at most ${MAX_VALUE_SKETCHES} per-value visitor sketches in one query (this one needs ${n}: choose a shorter range or fewer values)`);
      return lists;
    };
    if (choice.values) return bounded(spans.map((span) => minutesOf(span).flatMap((m) => choice.values!.map((v) => keys.dimVisitors(m, prefix + v)))));
    const minutes = [...new Set(spans.flatMap(minutesOf))];
    const pipe = this.deps.redis.pipeline();
    for (const m of minutes) pipe.smembers(keys.dimIndex(m));
    const res = (await this.exec(pipe)) as string[][];
    const byMinute = new Map(minutes.map((m, i) => [m, res[i]!.filter((dv) => dv.startsWith(prefix) && choice.passes(dv.slice(prefix.length)))]));
    return bounded(spans.map((span) => minutesOf(span).flatMap((m) => byMinute.get(m)!.map((dv) => keys.dimVisitors(m, dv)))));
  }

  /**
   * Page views of the pages (referrers) passing a condition, per span, over an hour's set for each
   * whole hour and a minute's at the edges. A scan reads every member of each set, so at most
   * MAX_SCANNED_SETS sets are scanned per query (a week of hours, a day and a half of minutes).
   */
  private async matchedPageviews(keys: SiteKeys, spans: Span[], mode: Extract<CounterMode, { kind: 'zsetMatch' }>): Promise<number[]> {
    const page = mode.set === 'pages';
    const sources = spans.map((span) => unionSources(minutesOf(span), (m) => (page ? keys.pages(m) : keys.referrers(m)), (h) => (page ? keys.pagesHour(h) : keys.referrersHour(h))));
    const sets = sources.reduce((n, list) => n + list.length, 0);
    // A scan compares every member (up to SPEED_MAX_MEMBERS a set) with every value: sets × values is the bound.
    const work = sets * mode.condition.values.length;
    if (mode.condition.op !== 'is' && work > MAX_SCANNED_SETS) {
      throw new UnsupportedQueryError(`speed scans at most ${MAX_SCANNED_SETS} ${page ? 'page' : 'referrer'} sets × values for "${mode.condition.op}" (this query needs ${sets} sets × ${mode.condition.values.length}: choose a coarser grain, a shorter range or fewer values)`);
    }
    const pipe = this.deps.redis.pipeline();
    for (const list of sources) {
      if (list.length === 0) pipe.echo('0');
      else (pipe as unknown as MatchPipe).speedZsetMatchSum(list.length, ...list, mode.condition.op, ...mode.condition.values);
    }
    return (await this.exec(pipe)).map(Number);
  }

  /**
   * Bounce rate and visit duration of each span, as batch takes them (batch/views.sql.ts): per
   * visit, its minutes' rows merged (page views add up, first and last event span), a bounce at
   * one page view or none, the duration last − first, averaged over the visits with an event in
   * the span. Exact for the visits the apply script cut (speed/README.md says when that is).
   */
  private async visitValues(keys: SiteKeys, spans: Span[]): Promise<{ bounce_rate: number; visit_duration: number }[]> {
    const parts = await this.visitPartsOf(keys, spans);
    return parts.map((visits) => {
      let bounces = 0;
      let durationMs = 0;
      for (const v of visits.values()) {
        if (v.pageviews <= 1) bounces++;
        durationMs += v.last - v.first;
      }
      const n = visits.size;
      return { bounce_rate: n ? bounces / n : 0, visit_duration: n ? durationMs / 1000 / n : 0 };
    });
  }

  /** Each span's visits: a visit's minutes merged (page views add up, first and last event span). */
  private async visitPartsOf(keys: SiteKeys, spans: Span[]): Promise<Map<string, { first: number; last: number; pageviews: number }>[]> {
    const minutes = [...new Set(spans.flatMap(minutesOf))];
    const pipe = this.deps.redis.pipeline();
    for (const m of minutes) pipe.hgetall(keys.visits(m));
    const res = minutes.length ? await this.exec(pipe) : [];
    const byMinute = new Map(minutes.map((m, i) => [m, res[i] as Record<string, string>]));
    return spans.map((span) => {
      const visits = new Map<string, { first: number; last: number; pageviews: number }>();
      for (let min = span.from; min < span.to; min++) {
        for (const [id, packed] of Object.entries(byMinute.get(min) ?? {})) {
          if (id === HASH_TABLE_FIELD) continue;
          const { first, last, pageviews } = parseVisitPart(packed);
          const v = visits.get(id);
          if (!v) visits.set(id, { first, last, pageviews });
          else {
            v.first = Math.min(v.first, first);
            v.last = Math.max(v.last, last);
            v.pageviews += pageviews;
          }
        }
      }
      return visits;
    });
  }

  /** The visits of [from, to) (every one: `lastFrom` is for stores that can narrow them), for bounce and duration across W. */
  async visitParts(site: string, from: number, to: number, _lastFrom: number): Promise<Map<string, { first: number; last: number; pageviews: number }>> {
    this.checkRange(from, to);
    const cov = await this.coverage(site);
    if (!cov) return new Map();
    const [parts] = await this.visitPartsOf(this.deps.keys.site(site), [this.span(from, to, cov)]);
    return parts!;
  }

  /**
   * Unfiltered counters of each span from its day, hour and minute keys (coarseSources), one HMGET
   * per key, queued on `pipe`; the returned function reads them from the pipeline's results.
   */
  private queueAggregate(pipe: Pipe, keys: SiteKeys, spans: Span[], metrics: Metric[], currency: string): (res: unknown[]) => MetricValues[] {
    const fields = metrics.map((m) => (m === 'revenue' ? revenueField(currency) : COUNTER_METRICS[m]!.agg));
    const perSpan = spans.map((span) => {
      const src = coarseSources(span, span.open);
      return [...src.days.map((d) => keys.countersDay(d)), ...src.hours.map((h) => keys.countersHour(h)), ...src.minutes.map((m) => keys.counters(m))];
    });
    const first = pipe.length;
    for (const list of perSpan) for (const key of list) pipe.hmget(key, ...fields);
    return (res) => {
      let at = first;
      return perSpan.map((list) => {
        const v: MetricValues = Object.fromEntries(metrics.map((m) => [m, 0]));
        for (let k = 0; k < list.length; k++) {
          const row = res[at++] as (string | null)[];
          metrics.forEach((m, j) => (v[m]! += Number(row[j] ?? 0)));
        }
        return v;
      });
    };
  }

  private async counterValues(keys: SiteKeys, minutes: number[], metrics: Metric[], mode: CounterMode, currency: string): Promise<Map<number, MetricValues>> {
    const result = new Map<number, MetricValues>();
    if (minutes.length === 0) return result;
    if (mode.kind === 'zset') {
      const pipe = this.deps.redis.pipeline();
      for (const m of minutes) pipe.zscore(mode.set === 'pages' ? keys.pages(m) : keys.referrers(m), mode.member);
      const res = await this.exec(pipe);
      minutes.forEach((m, i) => result.set(m, { pageviews: Number(res[i] ?? 0) }));
      return result;
    }
    if (mode.kind === 'aggregate') {
      const fields = metrics.map((m) => (m === 'revenue' ? revenueField(currency) : COUNTER_METRICS[m]!.agg));
      const pipe = this.deps.redis.pipeline();
      for (const m of minutes) pipe.hmget(keys.counters(m), ...fields);
      const res = await this.exec(pipe);
      minutes.forEach((m, i) => {
        const row = res[i] as (string | null)[];
        result.set(m, Object.fromEntries(metrics.map((metric, j) => [metric, Number(row[j] ?? 0)])));
      });
      return result;
    }
    if (mode.kind === 'zsetMatch') throw new UnsupportedQueryError('page views under a page or referrer condition are summed per span, not per minute');
    const byKind = new Map(metrics.map((m) => [COUNTER_METRICS[m]!.kind, m]));
    const hashes = await this.hashes(keys, minutes);
    minutes.forEach((m, i) => {
      const v: MetricValues = {};
      for (const [field, raw] of Object.entries(hashes[i]!)) {
        const t = parseTupleField(field);
        const metric = t && byKind.get(t.kind);
        if (!t || !metric || !matchesTuple(mode.match, t.kind, t.name, t.dims)) continue;
        v[metric] = (v[metric] ?? 0) + Number(raw);
      }
      result.set(m, v);
    });
    return result;
  }

  private async hashes(keys: SiteKeys, minutes: number[]): Promise<Record<string, string>[]> {
    const pipe = this.deps.redis.pipeline();
    for (const m of minutes) pipe.hgetall(keys.counters(m));
    return (await this.exec(pipe)) as Record<string, string>[];
  }

  private async topMembers(keys: SiteKeys, sources: string[], limit: number): Promise<BreakdownRow[]> {
    if (sources.length === 0) return [];
    const tmp = keys.temp(randomUUID());
    const pipe = this.deps.redis.pipeline();
    pipe.zunionstore(tmp, sources.length, ...sources);
    pipe.pexpire(tmp, 60_000);
    pipe.zrevrange(tmp, 0, limit - 1, 'WITHSCORES');
    pipe.unlink(tmp);
    const flat = (await this.exec(pipe))[2] as string[];
    const rows: BreakdownRow[] = [];
    for (let i = 0; i < flat.length; i += 2) rows.push({ value: flat[i]!, count: Number(flat[i + 1]) });
    return rows;
  }

  private async visitorBreakdown(q: BreakdownQuery, keys: SiteKeys, minutes: number[], filters: Filters): Promise<BreakdownRow[]> {
    if (!(HLL_DIMS as readonly string[]).includes(q.dimension) || Object.keys(filters).length > 0) {
      throw new UnsupportedQueryError(`speed ranks visitors by ${HLL_DIMS.join('/')} without filters only (asked: ${q.dimension}, ${Object.keys(filters).length} filters)`);
    }
    const pipe = this.deps.redis.pipeline();
    for (const m of minutes) pipe.smembers(keys.dimIndex(m));
    const members = (await this.exec(pipe)) as string[][];
    const prefix = q.dimension + ':';
    const byValue = new Map<string, string[]>();
    minutes.forEach((m, i) => {
      for (const dv of members[i]!) {
        if (!dv.startsWith(prefix)) continue;
        const list = byValue.get(dv) ?? [];
        list.push(keys.dimVisitors(m, dv));
        byValue.set(dv, list);
      }
    });
    const values = [...byValue.keys()];
    const counts = this.deps.redis.pipeline();
    for (const dv of values) counts.pfcount(...byValue.get(dv)!);
    const res = await this.exec(counts);
    return rank(new Map(values.map((dv, i) => [dv.slice(prefix.length), Number(res[i])])), q.limit);
  }

  private async exec(pipe: Pipe): Promise<unknown[]> {
    if (pipe.length === 0) return [];
    const res = await pipe.exec().catch((err: unknown) => this.fail(err));
    return (res ?? []).map(([err, v]) => {
      if (err) this.fail(err);
      return v;
    });
  }

  private fail(err: unknown): never {
    throw new DependencyError('REDIS_READ_FAILED', `redis: speed read failed: ${(err as Error).message}`, err);
  }
}

/**
 * How a span's visitors or sessions are counted: with three whole days or more before today, their
 * days' union (one key, made once by UNION_COUNT_LUA and kept until a write reaches one of its days)
 * with the rest of the span's keys; else the keys themselves. A union of seven dense sketches costs
 * Redis about 450 µs a count, one union and today's about 150 µs (measured).
 */
function sketchPlan(keys: SiteKeys, metric: 'visitors' | 'sessions', span: Span): { union?: { key: string; days: string[] }; keys: string[] } {
  const src = coarseSources(span, span.open);
  const dayKey = (d: number) => (metric === 'visitors' ? keys.visitorsDay(d) : keys.sessionsDay(d));
  const hourKey = (h: number) => (metric === 'visitors' ? keys.visitorsHour(h) : keys.sessionsHour(h));
  const minuteKey = (m: number) => (metric === 'visitors' ? keys.visitors(m) : keys.sessions(m));
  // Today's key (a span reaching now) is still written: never part of a union.
  const last = src.days.at(-1);
  const open = last !== undefined && (last + 1) * DAY_MINUTES > span.to ? last : undefined;
  const closed = open === undefined ? src.days : src.days.slice(0, -1);
  const rest = [...(open !== undefined ? [dayKey(open)] : []), ...src.hours.map(hourKey), ...src.minutes.map(minuteKey)];
  if (closed.length >= MIN_UNION_DAYS) return { union: { key: keys.daysUnion(metric, closed[0]!, closed.at(-1)! + 1), days: closed.map(dayKey) }, keys: rest };
  return { keys: [...closed.map(dayKey), ...rest] };
}

/** The visitor or session sketches holding a span, as keys to merge: sketchPlan's, with a union's days in place of the union. */
function sketchSources(keys: SiteKeys, metric: 'visitors' | 'sessions', span: Span): string[] {
  const plan = sketchPlan(keys, metric, span);
  return [...(plan.union?.days ?? []), ...plan.keys];
}

function rank(sums: Map<string, number>, limit: number): BreakdownRow[] {
  return [...sums]
    .filter(([, c]) => c > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([value, count]) => ({ value, count }));
}
