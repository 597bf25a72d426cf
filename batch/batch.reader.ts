/**
 * The read side of the batch views for the serving layer. `snapshot()` reads the pointer and
 * returns a reader bound to that one version, so every query of one response sees the same
 * version and the next response sees a newly published one. Unfiltered queries aligned to their
 * grain read the precomputed rollups; filtered or unaligned ones are answered from the day's
 * deduplicated events with the same SQL definitions, so both paths agree.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LIST, VARCHAR, listValue, timestampValue, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import { UsageError } from '../core/errors.ts';
import { breakdownDimensions, breakdownKey, calendarOf, conditionValues, DIMENSIONS, isFiltered, isPropDimension, isVisitPageDimension, type AnyDimension, type VisitPageDimension, reportingCurrency, type FilterCondition, UnsupportedQueryError, type BreakdownQuery, type BreakdownRow, type Coverage, type Dimension, type Filters, type MetricValues, type SeriesPoint, type SeriesQuery, type TotalsQuery, type ViewReader, type WatermarkSource } from '../core/views.ts';
import { num, openDuckDB, type DuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import { DaySketchMerger, sketchedIdSets, wholeSketchedDays, type IdSets } from '../core/day-sketches.ts';
import { Holdings, type TieredTable } from '../core/retention.ts';
import { DAY_MS, parseDay } from './lake.layout.ts';
import { monthSeries } from './month.reader.ts';
import type { FunnelQuery, FunnelStepResult, Pointer, VersionManifest } from './types.ts';
import { breakdownSql, bucketExpr, columnSql, conditionSql, DIMENSION_COLUMNS, multiBreakdownSql, metricValue, rollupSql, ROLLUP_METRIC_COLUMNS, type RollupRow } from './views.sql.ts';
import { ViewsStore, type ViewTable } from './views.store.ts';

type Params = Record<string, DuckDBValue>;
const ts = (ms: number) => timestampValue(BigInt(ms) * 1000n);

function toRollup(r: Record<string, unknown>): RollupRow {
  const row = { bucket: num(r.bucket) } as RollupRow;
  for (const c of ROLLUP_METRIC_COLUMNS) row[c] = num(r[c]);
  return row;
}

/** A fixed dimension, or a custom property (the day's events hold every property). */
function known(d: AnyDimension): boolean {
  return isPropDimension(d) || (!isVisitPageDimension(d) && DIMENSIONS.includes(d));
}

/** A visit's entry (exit) page among its human page views, by time, ties by path: the breakdown's and the filter's. */
const VISIT_PAGE = { entry: 'first(page ORDER BY event_time, page)', exit: 'last(page ORDER BY event_time, page)' } as const;

/**
 * A visit's entry (exit) page as the breakdown takes it (`first`/`last` page of its human page
 * views by time, ties by path), over the same files and range as the events (eventsSource's
 * parameters), before the other filters: the visits whose page passes the condition.
 */
function visitPageSql(c: FilterCondition, dimension: VisitPageDimension, i: number): string {
  const pick = VISIT_PAGE[dimension === 'entry_page' ? 'entry' : 'exit'];
  return ` AND session_id IN (SELECT session_id FROM read_parquet($files) WHERE site_id = $site AND event_time >= $from_ts AND event_time < $to_ts AND type = 'pageview' AND NOT is_bot GROUP BY session_id HAVING ${conditionSql(c, pick, (j) => `$c${i}_${j}`)})`;
}

/**
 * `AND col = $f_dim` for each filter and one bound condition each (conditionSql); only the fixed
 * dimension columns can appear.
 */
function filterSql(filters: Filters | undefined, params: Params, conditions?: readonly FilterCondition[]): string {
  let sql = '';
  for (const [dim, value] of Object.entries(filters ?? {})) {
    if (value === undefined) continue;
    if (!DIMENSIONS.includes(dim as Dimension)) throw new UnsupportedQueryError(`unknown filter dimension "${dim}"`);
    sql += ` AND ${DIMENSION_COLUMNS[dim as Dimension]} = $f_${dim}`;
    params[`f_${dim}`] = value;
  }
  (conditions ?? []).forEach((c, i) => {
    if (isVisitPageDimension(c.dimension)) sql += visitPageSql(c, c.dimension, i);
    else if (!known(c.dimension)) throw new UnsupportedQueryError(`unknown filter dimension "${c.dimension}"`);
    else sql += ` AND ${conditionSql(c, columnSql(c.dimension), (j) => `$c${i}_${j}`)}`;
    conditionValues(c).forEach((v, j) => (params[`c${i}_${j}`] = v));
  });
  return sql;
}

/** One version of the views, pinned. */
export class BatchSnapshot implements ViewReader {
  readonly source = 'batch' as const;
  readonly exact = true;
  readonly version: string;
  readonly watermark: number | null;
  private readonly days: string[];
  /** What the version still holds by its retention tiers (core/retention.ts); a deleted file reads as gone. */
  private readonly holdings: Holdings;

  constructor(
    private readonly store: ViewsStore,
    private readonly manifest: VersionManifest,
    private readonly connect: () => Promise<DuckDBConnection>,
    now: number = Date.now(),
  ) {
    this.version = manifest.version;
    this.watermark = manifest.watermark;
    this.days = Object.keys(manifest.days).sort();
    this.holdings = new Holdings(manifest, now, (day, table) => table === 'month' || existsSync(store.tablePath(manifest.days[day]!.dir, table)));
  }

  /**
   * Where the batch can answer from on, by retention tier: `events` for totals, breakdowns, ids
   * and funnels (cut from the raw events), `views` for the days still in the version at all.
   */
  retained(need: 'events' | 'views'): { from: number; reason: string } | null {
    return this.holdings.heldFrom(need === 'events' ? 'events' : 'day');
  }

  /** [first covered day, W): the batch answers for every site there (zero where a site had no events). */
  async coverage(_site: string): Promise<Coverage | null> {
    if (this.watermark === null || this.days.length === 0) return null;
    return { from: parseDay(this.days[0]!), to: this.watermark };
  }

  private clip(from: number, to: number): { from: number; to: number } | null {
    if (this.watermark === null || this.days.length === 0) return null;
    const f = Math.max(from, parseDay(this.days[0]!));
    const t = Math.min(to, this.watermark);
    return f < t ? { from: f, to: t } : null;
  }

  /** The files of `table` of the days overlapping [from, to) that still hold it. */
  private files(table: ViewTable, from: number, to: number): string[] {
    return this.days.filter((d) => parseDay(d) < to && parseDay(d) + DAY_MS > from && this.holdings.held(d, table as TieredTable)).map((d) => this.store.tablePath(this.manifest.days[d]!.dir, table));
  }

  /** `types` names the type of a parameter DuckDB cannot infer, such as an empty list. */
  private async query(sql: string, params: Params, types?: Record<string, DuckDBType>): Promise<Record<string, unknown>[]> {
    const conn = await this.connect();
    try {
      return (await conn.runAndReadAll(sql, params, types)).getRowObjectsJS() as Record<string, unknown>[];
    } finally {
      conn.closeSync();
    }
  }

  /** The day's events of the query as a table expression, with its parameters. */
  /** `properties`: whether the outer query reads the property map (a breakdown by a property); filters on one read it in the WHERE either way. */
  private eventsSource(site: string, from: number, to: number, filters: Filters | undefined, params: Params, conditions?: readonly FilterCondition[], properties = false): string | null {
    const files = this.files('events', from, to);
    if (files.length === 0) return null;
    Object.assign(params, { files: listValue(files), site, from_ts: ts(from), to_ts: ts(to) });
    // The map is the widest column of the day's events: read only when a breakdown needs it.
    return `(SELECT *${properties ? '' : ' EXCLUDE (properties)'} FROM read_parquet($files) WHERE site_id = $site AND event_time >= $from_ts AND event_time < $to_ts${filterSql(filters, params, conditions)})`;
  }

  /** Whether a series reads the precomputed rollups (else the day's events). */
  private rollupPath(q: SeriesQuery): boolean {
    const cal = calendarOf(q);
    const aligned = cal.floor(q.from, q.grain) === q.from && cal.floor(q.to, q.grain) === q.to;
    // The precomputed rollups are UTC minutes, hours and days; their revenue holds every currency
    // (revenue is summed from the events). Local hours, days, weeks and months come from the events.
    const precomputed = q.grain === 'minute' || (cal.utc && (q.grain === 'hour' || q.grain === 'day'));
    return precomputed && aligned && !q.eventName && !isFiltered(q.filters, q.conditions) && !q.metrics.includes('revenue');
  }

  private async rollups(q: SeriesQuery, from: number, to: number): Promise<Map<number, RollupRow>> {
    const cal = calendarOf(q);
    const params: Params = {};
    let sql: string;
    if (this.rollupPath(q)) {
      const files = this.files(q.grain as 'minute' | 'hour' | 'day', from, to);
      if (files.length === 0) return new Map();
      Object.assign(params, { files: listValue(files), site: q.site, from: BigInt(from), to: BigInt(to) });
      sql = `SELECT * FROM read_parquet($files) WHERE site_id = $site AND bucket >= $from AND bucket < $to`;
    } else {
      const source = this.eventsSource(q.site, from, to, q.filters, params, q.conditions);
      if (!source) return new Map();
      if (q.eventName) params.event_name = q.eventName;
      params.currency = reportingCurrency(q);
      if (q.grain === 'minute' || (cal.utc && q.grain !== 'week' && q.grain !== 'month')) sql = rollupSql(source, bucketExpr(q.grain), false, q.eventName !== undefined);
      else {
        // Each event takes the last bucket start at or before it (the zone's edges, computed here).
        params.bounds = listValue(cal.buckets(from, to, q.grain).map((b) => BigInt(b)));
        const bucketed = `(SELECT e.*, b.start AS local_bucket FROM ${source} AS e ASOF JOIN (SELECT unnest($bounds) AS start) AS b ON epoch_ms(e.event_time) >= b.start)`;
        sql = rollupSql(bucketed, 'local_bucket', false, q.eventName !== undefined);
      }
    }
    return new Map((await this.query(sql, params)).map((r) => [num(r.bucket), toRollup(r)]));
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    const range = this.clip(q.from, q.to);
    if (!range) return [];
    const rows = await this.rollups(q, range.from, range.to);
    const cal = calendarOf(q);
    const zero = toRollup({});
    const out: SeriesPoint[] = [];
    const path = this.rollupPath(q) ? 'rollup' : 'events';
    // Buckets a retention tier no longer holds (core/retention.ts): missing with the reason; a local
    // month past the raw events comes from the month views (batch/month.views.ts).
    const gaps = new Map<number, string>();
    for (const start of cal.buckets(q.from, q.to, q.grain)) {
      const end = cal.next(start, q.grain);
      if (end <= range.from || start >= range.to) continue;
      const gap = this.holdings.seriesGap(q.grain, path, Math.max(start, range.from), Math.min(end, range.to));
      if (gap !== null) gaps.set(start, gap);
    }
    const months = q.grain === 'month' && gaps.size > 0 ? await monthSeries(this.store, this.manifest, q, [...gaps.keys()], gaps, (sql, params) => this.query(sql, params)) : undefined;
    for (const start of cal.buckets(q.from, q.to, q.grain)) {
      if (cal.next(start, q.grain) <= range.from || start >= range.to) continue;
      const gap = gaps.get(start);
      if (gap !== undefined) {
        const month = months?.get(start);
        out.push(month ?? { start, values: {}, missing: gap });
        continue;
      }
      const row = rows.get(start) ?? zero;
      const values: MetricValues = {};
      for (const m of q.metrics) values[m] = metricValue(row, m);
      out.push({ start, values });
    }
    return out;
  }

  async totals(q: TotalsQuery): Promise<MetricValues> {
    const range = this.clip(q.from, q.to);
    const params: Params = {};
    const source = range && this.eventsSource(q.site, range.from, range.to, q.filters, params, q.conditions);
    let row = toRollup({});
    if (source) {
      if (q.eventName) params.event_name = q.eventName;
      params.currency = reportingCurrency(q);
      const rows = await this.query(rollupSql(source, '0', false, q.eventName !== undefined), params);
      if (rows[0]) row = toRollup(rows[0]);
    }
    const values: MetricValues = {};
    for (const m of q.metrics) values[m] = metricValue(row, m);
    return values;
  }

  async breakdown(q: BreakdownQuery): Promise<BreakdownRow[]> {
    if (!known(q.dimension)) throw new UnsupportedQueryError(`unknown dimension "${q.dimension}"`);
    const range = this.clip(q.from, q.to);
    if (!range) return [];
    if (breakdownDimensions(q).length > 1) return this.multiBreakdown(q, range);
    if (q.visitPage) return this.visitPageBreakdown(q, range);
    const limit = Math.max(0, Math.floor(q.limit));
    const params: Params = { limit: BigInt(limit) };
    const metric = q.metric === 'revenue' ? 'revenue_micros' : q.metric;
    if (!['pageviews', 'visitors', 'events', 'revenue_micros'].includes(metric)) throw new UnsupportedQueryError(`cannot rank by "${q.metric}"`);
    const dayAligned = range.from % DAY_MS === 0 && range.to % DAY_MS === 0;
    const single = range.to - range.from === DAY_MS;
    let sql: string;
    // The precomputed per-day revenue holds every currency: one currency per row by currency only.
    const revenueOk = metric !== 'revenue_micros' || q.dimension === 'currency';
    if (dayAligned && !isFiltered(q.filters, q.conditions) && (metric !== 'visitors' || single) && revenueOk && !isPropDimension(q.dimension)) {
      // Precomputed per-day breakdowns: additive metrics sum over days; visitors only within one day.
      Object.assign(params, { files: listValue(this.files('dims', range.from, range.to)), site: q.site, dim: q.dimension });
      sql = `SELECT value, sum(${metric})::BIGINT AS c FROM read_parquet($files) WHERE site_id = $site AND dimension = $dim GROUP BY value`;
    } else {
      const source = this.eventsSource(q.site, range.from, range.to, q.filters, params, q.conditions, isPropDimension(q.dimension));
      if (!source) return [];
      if (q.dimension !== 'currency') params.currency = reportingCurrency(q);
      sql = `SELECT value, ${metric} AS c FROM (${breakdownSql(source, q.dimension, false)})`;
    }
    const rows = await this.query(`SELECT value, c FROM (${sql}) WHERE c > 0 ORDER BY c DESC, value ASC LIMIT $limit`, params);
    return rows.map((r) => ({ value: String(r.value), count: num(r.c) }));
  }

  /**
   * Events by their visit's entry (exit) page: each human visit's first (last) page view of the range,
   * before the filters (ties in time: the smaller, the larger path), joined to the filtered events.
   */
  private async visitPageBreakdown(q: BreakdownQuery, range: { from: number; to: number }): Promise<BreakdownRow[]> {
    const metric = q.metric === 'revenue' ? 'revenue_micros' : q.metric;
    if (!['pageviews', 'visitors', 'events', 'revenue_micros'].includes(metric)) throw new UnsupportedQueryError(`cannot rank by "${q.metric}"`);
    const params: Params = { limit: BigInt(Math.max(0, Math.floor(q.limit))), currency: reportingCurrency(q) };
    const all = this.eventsSource(q.site, range.from, range.to, undefined, params);
    const filtered = this.eventsSource(q.site, range.from, range.to, q.filters, params, q.conditions);
    if (!all || !filtered) return [];
    const pick = VISIT_PAGE[q.visitPage!];
    const source = `(SELECT e.* REPLACE (v.vpage AS page) FROM ${filtered} AS e JOIN (SELECT session_id, ${pick} AS vpage FROM ${all} WHERE type = 'pageview' AND NOT is_bot GROUP BY session_id) AS v USING (session_id))`;
    const rows = await this.query(`SELECT value, ${metric} AS c FROM (${breakdownSql(source, 'page', false)}) WHERE ${metric} > 0 ORDER BY c DESC, value ASC LIMIT $limit`, params);
    return rows.map((r) => ({ value: String(r.value), count: num(r.c) }));
  }

  /** A breakdown by several dimensions, from the day's events. */
  private async multiBreakdown(q: BreakdownQuery, range: { from: number; to: number }): Promise<BreakdownRow[]> {
    const dims = breakdownDimensions(q);
    if (!dims.every(known)) throw new UnsupportedQueryError(`unknown dimension in ${dims.join(', ')}`);
    const metric = q.metric === 'revenue' ? 'revenue_micros' : q.metric;
    if (!['pageviews', 'visitors', 'events', 'revenue_micros'].includes(metric)) throw new UnsupportedQueryError(`cannot rank by "${q.metric}"`);
    const params: Params = { limit: BigInt(Math.max(0, Math.floor(q.limit))) };
    const source = this.eventsSource(q.site, range.from, range.to, q.filters, params, q.conditions, dims.some(isPropDimension));
    if (!source) return [];
    if (!dims.includes('currency')) params.currency = reportingCurrency(q);
    const vs = dims.map((_, i) => `v${i}`).join(', ');
    const rows = await this.query(`SELECT ${vs}, ${metric} AS c FROM (${multiBreakdownSql(source, dims)}) WHERE ${metric} > 0 ORDER BY c DESC, ${vs} LIMIT $limit`, params);
    return rows.map((r) => {
      const values = dims.map((_, i) => String(r[`v${i}`]));
      return { value: breakdownKey(values), values, count: num(r.c) };
    });
  }

  /** Exact non-bot visitor ids of [from, to) ∩ coverage, for unions with the speed sketches across W. */
  async *visitorIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    yield* this.distinctIds('visitor_id', site, from, to, filters, undefined, conditions);
  }

  /**
   * The visitors of `visitorIds`, the whole days with this site's sketch (batch/visitor.sketches.ts)
   * merged into one, the other days' ids streamed; nothing is read until asked (core/day-sketches.ts).
   */
  visitorSets(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): IdSets {
    const range = this.clip(from, to);
    const days = range ? wholeSketchedDays(this.manifest.days, range.from, range.to, filters, conditions) : [];
    return sketchedIdSets(days, (d) => this.daySketches(site, d), (skip) => this.distinctIds('visitor_id', site, from, to, filters, skip, conditions));
  }

  private async daySketches(site: string, days: readonly string[]): Promise<DaySketchMerger> {
    const merger = new DaySketchMerger();
    if (days.length === 0) return merger;
    const dayOf = new Map(days.map((d) => [this.store.tablePath(this.manifest.days[d]!.dir, 'sketches'), d]));
    const conn = await this.connect();
    try {
      const result = await conn.stream(`SELECT filename, visitors FROM read_parquet($files, filename = true) WHERE site_id = $site`, { files: listValue([...dayOf.keys()]), site }, { files: LIST(VARCHAR) });
      for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
        const files = chunk.getColumnValues(0) as string[];
        const sketches = chunk.getColumnValues(1) as string[];
        for (let i = 0; i < files.length; i++) merger.add(dayOf.get(files[i]!)!, sketches[i]!);
      }
    } finally {
      conn.closeSync();
    }
    return merger;
  }

  /**
   * Distinct non-bot ids of a column over [from, to) ∩ coverage, streamed in DuckDB's chunks one day
   * at a time: DuckDB's hash table holds one day's ids, this process one chunk, whatever the range
   * (an id on several days comes once per day; the sketch they go into counts it once). Days in
   * `skip()` are left out (a sketch holds them).
   */
  private async *distinctIds(column: 'visitor_id' | 'session_id', site: string, from: number, to: number, filters?: Filters, skip?: () => Promise<ReadonlySet<string>>, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    const range = this.clip(from, to);
    if (!range) return;
    const skipped = skip ? await skip() : new Set<string>();
    for (const day of this.days) {
      const start = parseDay(day);
      if (skipped.has(day) || start >= range.to || start + DAY_MS <= range.from) continue;
      const params: Params = {};
      const source = this.eventsSource(site, Math.max(range.from, start), Math.min(range.to, start + DAY_MS), filters, params, conditions);
      if (!source) continue;
      const conn = await this.connect();
      try {
        const result = await conn.stream(`SELECT DISTINCT ${column} FROM ${source} WHERE NOT is_bot`, params);
        // A column's values per chunk (2,048 rows), not a row array each: less garbage per id.
        for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
          yield chunk.getColumnValues(0) as string[];
        }
      } finally {
        conn.closeSync();
      }
    }
  }

  /** Exact non-bot visit ids (the server's, `visitor@start-ms`) of [from, to) ∩ coverage, for unions with the speed session sketches across W. */
  async *sessionIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    yield* this.distinctIds('session_id', site, from, to, filters, undefined, conditions);
  }

  /** Non-bot visits of [from, to) ∩ coverage whose last event there is at or after `lastFrom`: first, last event and page views there. */
  async visitParts(site: string, from: number, to: number, lastFrom: number): Promise<Map<string, { first: number; last: number; pageviews: number }>> {
    const range = this.clip(from, to);
    const params: Params = {};
    const source = range && this.eventsSource(site, range.from, range.to, undefined, params);
    if (!source) return new Map();
    params.last_from = timestampValue(BigInt(lastFrom) * 1000n);
    const rows = await this.query(
      `SELECT session_id, epoch_ms(min(event_time)) AS first_ms, epoch_ms(max(event_time)) AS last_ms, count(*) FILTER (WHERE type = 'pageview') AS pv
       FROM ${source} WHERE NOT is_bot GROUP BY session_id HAVING max(event_time) >= $last_from`,
      params,
    );
    return new Map(rows.map((r) => [String(r.session_id), { first: Number(r.first_ms), last: Number(r.last_ms), pageviews: Number(r.pv) }]));
  }

  /**
   * Visitors reaching each step in order within one session (non-bot), over batch-covered days,
   * aggregated in DuckDB: each matching event becomes a bit mask of the steps it matches, a
   * session's masks in time order fold into the steps it reached in order (taking the first match
   * of each step after the previous one), and visitors are counted by their best session. Nothing
   * of the events comes into this process, whatever the range.
   */
  async funnel(q: FunnelQuery): Promise<FunnelStepResult[]> {
    if (q.steps.length === 0) throw new UsageError('BAD_FUNNEL', 'a funnel needs at least one step');
    if (q.steps.length > 30) throw new UsageError('BAD_FUNNEL', 'a funnel has at most 30 steps');
    const range = this.clip(q.from, q.to);
    const params: Params = {};
    const source = range && this.eventsSource(q.site, range.from, range.to, q.filters, params, q.conditions);
    if (!source) return q.steps.map((step) => ({ step, visitors: 0 }));
    const n = q.steps.length;
    const mask = q.steps
      .map((step, j) => {
        params[`step_${j}`] = step.value;
        const match = step.kind === 'page' ? `type = 'pageview' AND page = $step_${j}` : `type <> 'pageview' AND event_name = $step_${j}`;
        return `(CASE WHEN ${match} THEN ${2 ** j} ELSE 0 END)`;
      })
      .join(' + ');
    const [row] = await this.query(
      `WITH ev AS (SELECT session_id, visitor_id, event_time, (${mask})::INTEGER AS mask FROM ${source} WHERE NOT is_bot),
       sessions AS (
         SELECT visitor_id, list_reduce(list(mask ORDER BY event_time), (acc, x) -> CASE WHEN acc < ${n} AND ((x >> acc) & 1) = 1 THEN acc + 1 ELSE acc END, 0::INTEGER) AS lvl
         FROM ev WHERE mask > 0 GROUP BY session_id, visitor_id),
       visitors AS (SELECT visitor_id, max(lvl) AS lvl FROM sessions GROUP BY visitor_id)
       SELECT ${q.steps.map((_, i) => `count(*) FILTER (WHERE lvl >= ${i + 1}) AS r${i}`).join(', ')} FROM visitors`,
      params,
    );
    return q.steps.map((step, i) => ({ step, visitors: num(row?.[`r${i}`]) }));
  }
}

export interface BatchReaderOptions {
  dataDir: string;
  duckdb?: Omit<DuckDBOptions, 'tempDir'>;
  /** The clock the retention tiers are read against (tests inject one). */
  now?: () => number;
}

/**
 * ViewReader over the current version; each call re-reads the pointer (one small file), so a
 * published or rolled-back version is used by the very next query. Use `snapshot()` to pin a
 * version for a whole response.
 */
export class BatchReader implements ViewReader, WatermarkSource {
  readonly source = 'batch' as const;
  readonly exact = true;
  private readonly store: ViewsStore;
  private db: Promise<DuckDB> | undefined;

  constructor(private readonly options: BatchReaderOptions) {
    this.store = new ViewsStore(options.dataDir);
  }

  /** Lazy, and a failed open is forgotten so the next call tries again. */
  private open(): Promise<DuckDB> {
    this.db ??= openDuckDB({ memoryLimit: '1GB', threads: 2, ...this.options.duckdb, tempDir: join(this.options.dataDir, 'views', '_reader_tmp') }).catch((err: unknown) => {
      this.db = undefined;
      throw err;
    });
    return this.db;
  }

  pointer(): Pointer | null {
    return this.store.pointer();
  }

  async snapshot(): Promise<BatchSnapshot | null> {
    const manifest = this.store.current();
    if (!manifest) return null;
    return new BatchSnapshot(this.store, manifest, async () => (await this.open()).instance.connect(), this.options.now?.() ?? Date.now());
  }

  /** Same as snapshot(): the serving layer's BatchSource. */
  current(): Promise<BatchSnapshot | null> {
    return this.snapshot();
  }

  async watermark(): Promise<number | null> {
    return this.store.pointer()?.watermark ?? null;
  }

  async coverage(site: string): Promise<Coverage | null> {
    return (await this.snapshot())?.coverage(site) ?? null;
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    return (await this.snapshot())?.series(q) ?? [];
  }

  async totals(q: TotalsQuery): Promise<MetricValues> {
    const s = await this.snapshot();
    return s ? s.totals(q) : {};
  }

  async breakdown(q: BreakdownQuery): Promise<BreakdownRow[]> {
    return (await this.snapshot())?.breakdown(q) ?? [];
  }

  async *visitorIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    const s = await this.snapshot();
    if (s) yield* s.visitorIds(site, from, to, filters, conditions);
  }

  async *sessionIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    const s = await this.snapshot();
    if (s) yield* s.sessionIds(site, from, to, filters, conditions);
  }

  async visitParts(site: string, from: number, to: number, lastFrom: number): Promise<Map<string, { first: number; last: number; pageviews: number }>> {
    return (await this.snapshot())?.visitParts(site, from, to, lastFrom) ?? new Map();
  }

  async funnel(q: FunnelQuery): Promise<FunnelStepResult[]> {
    const s = await this.snapshot();
    return s ? s.funnel(q) : q.steps.map((step) => ({ step, visitors: 0 }));
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db.catch(() => undefined))?.close();
  }
}
