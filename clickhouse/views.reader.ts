/**
 * The batch views read from ClickHouse (BATCH_VIEWS_STORE=clickhouse): the same answers as the
 * DuckDB reader (batch/batch.reader.ts) from the same rows, for serving instances that hold no
 * files and may run on any number of machines. `snapshot()` reads the pointer once and returns a
 * reader bound to that version's folders, so one response sees one version. Unfiltered queries
 * aligned to their grain read the precomputed rollups; the rest are answered from the day's
 * events with the definitions of views.sql.ts.
 */
import { DaySketchMerger, sketchedIdSets, wholeSketchedDays, type IdSets } from '../core/day-sketches.ts';
import { UsageError } from '../core/errors.ts';
import { Holdings, type RetentionTiers, type TieredTable } from '../core/retention.ts';
import { metricValue, toRollupRow, type RollupColumn, type RollupRow } from '../core/rollups.ts';
import { breakdownDimensions, breakdownKey, calendarOf, DIMENSIONS, isFiltered, isPropDimension, isVisitPageDimension, type AnyDimension, type FilterCondition, type Metric, reportingCurrency, UnsupportedQueryError, type BreakdownQuery, type BreakdownRow, type Coverage, type Filters, type FunnelQuery, type FunnelStepResult, type MetricValues, type SeriesPoint, type SeriesQuery, type TotalsQuery, type ViewReader, type WatermarkSource } from '../core/views.ts';
import type { ClickHouseConnection, Settings } from './clickhouse.client.ts';
import { qualifiedName, quoteString } from './sql.quote.ts';
import { bucketSql, breakdownSql, filterSql, msLiteral, multiBreakdownSql, rollupSql, VISIT_PAGE } from './views.sql.ts';
import { dirsCondition, distributedTable, viewTable, VIEW_COLUMNS, VIEW_POINTER_TABLE, VIEW_VERSIONS_TABLE, type ViewDataTable } from './views.schema.ts';

const DAY_MS = 86_400_000;
const parseDay = (day: string) => Date.parse(`${day}T00:00:00Z`);
const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

/** One version as the batch job's manifest has it (batch/types.ts VersionManifest, the fields read here). */
export interface ViewVersion {
  version: string;
  watermark: number | null;
  days: Record<string, { dir: string; until?: number; sketchMinVisitors?: number; trimmed?: string[] }>;
  /** The retention tiers the version is held to (core/retention.ts); absent in versions before them. */
  retention?: RetentionTiers;
}

/** The pointer as ClickHouse holds it. */
export interface ViewPointer {
  version: string;
  watermark: number | null;
  seq: number;
}

/** Where the views are: the entry server, its database and, in a cluster, the cluster's name. */
export interface ViewsLocation {
  connection: ClickHouseConnection;
  database: string;
  /** Set: reads go through the Distributed `…_all` tables over this `remote_servers` cluster. */
  cluster?: string;
  /** Deadline of one read (ms). */
  readTimeoutMs: number;
  /**
   * How long (ms) a pointer read may be reused by the next requests: one query less per request,
   * for a new version seen that much later. 0: read for every request.
   */
  pointerCacheMs?: number;
}

export async function readPointer(loc: Pick<ViewsLocation, 'connection' | 'database'>, o: { timeoutMs?: number } = {}): Promise<ViewPointer | null> {
  const [row] = await loc.connection.rows<{ version: string; watermark: string | null; seq: string }>(
    `SELECT version, watermark, seq FROM ${qualifiedName(loc.database, VIEW_POINTER_TABLE)} ORDER BY seq DESC LIMIT 1`,
    'reading the batch views pointer',
    o,
  );
  return row ? { version: row.version, watermark: row.watermark === null ? null : Number(row.watermark), seq: Number(row.seq) } : null;
}

/** The rollup columns the metrics are computed from (metricValue): fewer bytes to send and parse. */
function rollupColumnsOf(metrics: readonly Metric[]): RollupColumn[] {
  const cols = new Set<RollupColumn>();
  for (const m of metrics) {
    if (m === 'revenue') cols.add('revenue_micros');
    else if (m === 'bounce_rate') cols.add('bounces').add('sessions');
    else if (m === 'visit_duration') cols.add('duration_ms').add('sessions');
    else cols.add(m);
  }
  return cols.size ? [...cols] : ['pageviews'];
}

/** One version of the views, pinned. */
export class ClickHouseSnapshot implements ViewReader {
  readonly source = 'batch' as const;
  readonly exact = true;
  readonly version: string;
  readonly watermark: number | null;
  private readonly days: string[];
  /** What the version still holds by its retention tiers; the publisher deletes the rest (core/retention.ts). */
  private readonly holdings: Holdings;

  constructor(
    private readonly loc: ViewsLocation,
    private readonly manifest: ViewVersion,
    now: number = Date.now(),
  ) {
    this.version = manifest.version;
    this.watermark = manifest.watermark;
    this.days = Object.keys(manifest.days).sort();
    this.holdings = new Holdings(manifest, now);
  }

  /** Where the batch can answer from on, by retention tier (the DuckDB reader's rule). */
  retained(need: 'events' | 'views'): { from: number; reason: string } | null {
    return this.holdings.heldFrom(need === 'events' ? 'events' : 'day');
  }

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

  private table(t: ViewDataTable): string {
    return qualifiedName(this.loc.database, this.loc.cluster ? distributedTable(t) : viewTable(t));
  }

  /** The folders of the days overlapping [from, to) that still hold `table`, but those of `skip`. */
  private dirs(from: number, to: number, skip?: ReadonlySet<string>, table: TieredTable = 'events'): string[] {
    return this.days.filter((d) => parseDay(d) < to && parseDay(d) + DAY_MS > from && !skip?.has(d) && this.holdings.held(d, table)).map((d) => this.manifest.days[d]!.dir);
  }

  /** Whether a series reads the precomputed rollups (else the day's events). */
  private rollupPath(q: SeriesQuery): boolean {
    const cal = calendarOf(q);
    const aligned = cal.floor(q.from, q.grain) === q.from && cal.floor(q.to, q.grain) === q.to;
    const precomputed = q.grain === 'minute' || (cal.utc && (q.grain === 'hour' || q.grain === 'day'));
    return precomputed && aligned && !q.eventName && !isFiltered(q.filters, q.conditions) && !q.metrics.includes('revenue');
  }

  private query<T>(sql: string, what: string): Promise<T[]> {
    return this.loc.connection.rows<T>(sql, what, { timeoutMs: this.loc.readTimeoutMs });
  }

  /** The query's events as a table expression (the days of `skip` left out), or null when no day overlaps. */
  /** `properties`: whether the outer query reads the property arrays (a breakdown by a property); filters on one read them in the WHERE either way. */
  private eventsSource(site: string, from: number, to: number, filters: Filters | undefined, skip?: ReadonlySet<string>, conditions?: readonly FilterCondition[], properties = false): string | null {
    const dirs = this.dirs(from, to, skip);
    if (dirs.length === 0) return null;
    const range = `WHERE ${dirsCondition(dirs)} AND site_id = ${quoteString(site)} AND event_ms >= ${msLiteral(from)} AND event_ms < ${msLiteral(to)}`;
    // A visit's pages are read from the local table: shards split by site (SHARDING_KEY), so each
    // shard holds every event of a visit, and a Distributed table inside IN is refused (distributed_product_mode).
    const local = `FROM ${qualifiedName(this.loc.database, viewTable('events'))} ${range}`;
    // The property arrays are the widest columns: read only when a breakdown needs them (18.16 has no `* EXCEPT`).
    return `(SELECT ${properties ? '*' : EVENT_COLUMNS_WITHOUT_PROPERTIES} FROM ${this.table('events')} ${range}${filterSql(filters, conditions, local)})`;
  }

  private async rollups(q: SeriesQuery, from: number, to: number): Promise<Map<number, RollupRow>> {
    const cal = calendarOf(q);
    const columns = rollupColumnsOf(q.metrics);
    let sql: string;
    let settings: Settings = {};
    // The precomputed rollups are UTC minutes, hours and days holding every currency's revenue.
    if (this.rollupPath(q)) {
      const dirs = this.dirs(from, to, undefined, q.grain as 'minute' | 'hour' | 'day');
      if (dirs.length === 0) return new Map();
      sql = `SELECT bucket, ${columns.join(', ')} FROM ${this.table(q.grain as 'minute' | 'hour' | 'day')} WHERE ${dirsCondition(dirs)} AND site_id = ${quoteString(q.site)} AND bucket >= ${msLiteral(from)} AND bucket < ${msLiteral(to)}`;
      // A few merged parts read in key order: one thread does it with less CPU than several
      // (ClickHouse alone: 1,380 against 990 such queries/s on two cores).
      settings = { max_threads: 1 };
    } else {
      const source = this.eventsSource(q.site, from, to, q.filters, undefined, q.conditions);
      if (!source) return new Map();
      sql = `SELECT bucket, ${columns.join(', ')} FROM (${rollupSql(source, bucketSql(q.grain, cal.utc, cal.buckets(from, to, q.grain)), reportingCurrency(q), q.eventName)})`;
    }
    const rows = await this.loc.connection.numbers(sql, `reading the ${q.grain} series of ${q.site}`, { timeoutMs: this.loc.readTimeoutMs, settings });
    const out = new Map<number, RollupRow>();
    for (const r of rows) {
      // Only the columns the metrics read (metricValue takes an absent one as 0).
      const row = { bucket: r[0]! } as RollupRow;
      for (let i = 0; i < columns.length; i++) row[columns[i]!] = r[i + 1]!;
      out.set(row.bucket, row);
    }
    return out;
  }

  async series(q: SeriesQuery): Promise<SeriesPoint[]> {
    const range = this.clip(q.from, q.to);
    if (!range) return [];
    const rows = await this.rollups(q, range.from, range.to);
    const cal = calendarOf(q);
    const zero = toRollupRow({}, num);
    const out: SeriesPoint[] = [];
    const path = this.rollupPath(q) ? 'rollup' : 'events';
    for (const start of cal.buckets(q.from, q.to, q.grain)) {
      const end = cal.next(start, q.grain);
      if (end <= range.from || start >= range.to) continue;
      // A bucket a retention tier no longer holds: missing with the reason (core/retention.ts).
      const gap = this.holdings.seriesGap(q.grain, path, Math.max(start, range.from), Math.min(end, range.to));
      if (gap !== null) {
        out.push({ start, values: {}, missing: q.grain === 'month' ? `${gap}; month views are answered by the DuckDB views store only (BATCH_VIEWS_STORE=duckdb)` : gap });
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
    const source = range && this.eventsSource(q.site, range.from, range.to, q.filters, undefined, q.conditions);
    let row = toRollupRow({}, num);
    if (source) {
      const [r] = await this.query<Record<string, unknown>>(rollupSql(source, { prelude: '', expr: 'toInt64(0)' }, reportingCurrency(q), q.eventName), `reading the totals of ${q.site}`);
      if (r) row = toRollupRow(r, num);
    }
    const values: MetricValues = {};
    for (const m of q.metrics) values[m] = metricValue(row, m);
    return values;
  }

  async breakdown(q: BreakdownQuery): Promise<BreakdownRow[]> {
    if (!known(q.dimension)) throw new UnsupportedQueryError(`unknown dimension "${q.dimension}"`);
    if (!['pageviews', 'visitors', 'events', 'revenue'].includes(q.metric)) throw new UnsupportedQueryError(`cannot rank by "${q.metric}"`);
    const range = this.clip(q.from, q.to);
    if (!range) return [];
    const limit = Math.max(0, Math.floor(q.limit));
    const dims = breakdownDimensions(q);
    if (dims.length > 1) {
      if (!dims.every(known)) throw new UnsupportedQueryError(`unknown dimension in ${dims.join(', ')}`);
      const source = this.eventsSource(q.site, range.from, range.to, q.filters, undefined, q.conditions, dims.some(isPropDimension));
      if (!source) return [];
      const vs = dims.map((_, i) => `v${i}`).join(', ');
      const rows = await this.query<Record<string, unknown>>(`SELECT ${vs}, ${q.metric} AS c FROM (${multiBreakdownSql(source, dims, reportingCurrency(q))}) WHERE c > 0 ORDER BY c DESC, ${vs} LIMIT ${limit}`, `reading the ${dims.join(' × ')} breakdown of ${q.site}`);
      return rows.map((r) => {
        const values = dims.map((_, i) => String(r[`v${i}`]));
        return { value: breakdownKey(values), values, count: num(r.c) };
      });
    }
    if (q.visitPage) {
      // Each event under its visit's entry (exit) page, taken before the filters (ties: the smaller, the larger path).
      const all = this.eventsSource(q.site, range.from, range.to, undefined);
      const filtered = this.eventsSource(q.site, range.from, range.to, q.filters, undefined, q.conditions);
      if (!all || !filtered) return [];
      const pick = VISIT_PAGE[q.visitPage];
      const source = `(SELECT type, visitor_id, session_id, is_bot, revenue_micros, currency, vpage AS page FROM (SELECT type, visitor_id, session_id, is_bot, revenue_micros, currency FROM ${filtered}) ALL INNER JOIN (SELECT session_id, ${pick} AS vpage FROM ${all} WHERE type = 'pageview' AND is_bot = 0 GROUP BY session_id) USING session_id)`;
      const rows = await this.query<{ value: string; c: string }>(`SELECT value, ${q.metric} AS c FROM (${breakdownSql(source, 'page', reportingCurrency(q))}) WHERE c > 0 ORDER BY c DESC, value ASC LIMIT ${limit}`, `reading the ${q.visitPage} pages of ${q.site}`);
      return rows.map((r) => ({ value: String(r.value), count: num(r.c) }));
    }
    const dayAligned = range.from % DAY_MS === 0 && range.to % DAY_MS === 0;
    const single = range.to - range.from === DAY_MS;
    // The precomputed per-day revenue holds every currency: one currency per row by currency only.
    const revenueOk = q.metric !== 'revenue' || q.dimension === 'currency';
    let sql: string;
    if (dayAligned && !isFiltered(q.filters, q.conditions) && (q.metric !== 'visitors' || single) && revenueOk && !isPropDimension(q.dimension)) {
      // Precomputed per-day breakdowns: additive metrics sum over days; visitors only within one day.
      const column = q.metric === 'revenue' ? 'revenue_micros' : q.metric;
      sql = `SELECT value, sum(${column}) AS c FROM ${this.table('dims')} WHERE ${dirsCondition(this.dirs(range.from, range.to, undefined, 'dims'))} AND site_id = ${quoteString(q.site)} AND dimension = ${quoteString(q.dimension)} GROUP BY value`;
    } else {
      const source = this.eventsSource(q.site, range.from, range.to, q.filters, undefined, q.conditions, isPropDimension(q.dimension));
      if (!source) return [];
      sql = `SELECT value, ${q.metric} AS c FROM (${breakdownSql(source, q.dimension, reportingCurrency(q))})`;
    }
    const rows = await this.query<{ value: string; c: string }>(`SELECT value, c FROM (${sql}) WHERE c > 0 ORDER BY c DESC, value ASC LIMIT ${limit}`, `reading the ${q.dimension} breakdown of ${q.site}`);
    return rows.map((r) => ({ value: String(r.value), count: num(r.c) }));
  }

  /** Exact non-bot visitor ids of [from, to) ∩ coverage, for unions with the speed sketches across W. */
  async *visitorIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    yield* this.distinctIds('visitor_id', site, from, to, filters, undefined, conditions);
  }

  /** Exact non-bot visit ids of [from, to) ∩ coverage, for unions with the speed session sketches across W. */
  async *sessionIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    yield* this.distinctIds('session_id', site, from, to, filters, undefined, conditions);
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

  /** The site's sketches of `days`, merged as the server streams them (one 24 KB hex line each). */
  private async daySketches(site: string, days: readonly string[]): Promise<DaySketchMerger> {
    const merger = new DaySketchMerger();
    if (days.length === 0) return merger;
    const dayOf = new Map(days.map((d) => [this.manifest.days[d]!.dir, d]));
    const sql = `SELECT dir, visitors FROM ${this.table('sketches')} WHERE ${dirsCondition([...dayOf.keys()])} AND site_id = ${quoteString(site)}`;
    for await (const lines of this.loc.connection.lines(sql, `reading the visitor sketches of ${site}`, { timeoutMs: this.loc.readTimeoutMs })) {
      for (const line of lines) {
        const tab = line.indexOf('\t');
        merger.add(dayOf.get(line.slice(0, tab))!, line.slice(tab + 1));
      }
    }
    return merger;
  }

  /** Streamed in the chunks the server sends: a range of any length never holds its ids here at once. Days in `skip()` are left out (a sketch holds them). */
  private async *distinctIds(column: 'visitor_id' | 'session_id', site: string, from: number, to: number, filters?: Filters, skip?: () => Promise<ReadonlySet<string>>, conditions?: readonly FilterCondition[]): AsyncGenerator<string[]> {
    const range = this.clip(from, to);
    const source = range && this.eventsSource(site, range.from, range.to, filters, skip ? await skip() : undefined, conditions);
    if (!source) return;
    yield* this.loc.connection.lines(`SELECT DISTINCT ${column} AS id FROM ${source} WHERE is_bot = 0`, `reading the ${column}s of ${site}`, { timeoutMs: this.loc.readTimeoutMs });
  }

  /** Non-bot visits of [from, to) ∩ coverage whose last event there is at or after `lastFrom`. */
  async visitParts(site: string, from: number, to: number, lastFrom: number): Promise<Map<string, { first: number; last: number; pageviews: number }>> {
    const range = this.clip(from, to);
    const source = range && this.eventsSource(site, range.from, range.to, undefined);
    if (!source) return new Map();
    const rows = await this.query<{ session_id: string; first_ms: string; last_ms: string; pv: string }>(
      `SELECT session_id, min(event_ms) AS first_ms, max(event_ms) AS last_ms, countIf(type = 'pageview') AS pv
       FROM ${source} WHERE is_bot = 0 GROUP BY session_id HAVING last_ms >= ${msLiteral(lastFrom)}`,
      `reading the visits of ${site} near W`,
    );
    return new Map(rows.map((r) => [String(r.session_id), { first: num(r.first_ms), last: num(r.last_ms), pageviews: num(r.pv) }]));
  }

  /**
   * Visitors reaching each step in order within one session (non-bot), over batch-covered days,
   * aggregated in ClickHouse: each matching event becomes a bit mask of the steps it matches, a
   * session's masks in time order give each step's first match after the previous step's
   * (arrayFirstIndex, chained), and visitors are counted by their best session. Nothing of the
   * events comes into this process, whatever the range.
   */
  async funnel(q: FunnelQuery): Promise<FunnelStepResult[]> {
    if (q.steps.length === 0) throw new UsageError('BAD_FUNNEL', 'a funnel needs at least one step');
    if (q.steps.length > 30) throw new UsageError('BAD_FUNNEL', 'a funnel has at most 30 steps');
    const range = this.clip(q.from, q.to);
    const source = range && this.eventsSource(q.site, range.from, range.to, q.filters, undefined, q.conditions);
    if (!source) return q.steps.map((step) => ({ step, visitors: 0 }));
    const mask = q.steps
      .map((step, j) => {
        const match = step.kind === 'page' ? `type = 'pageview' AND page = ${quoteString(step.value)}` : `type != 'pageview' AND event_name = ${quoteString(step.value)}`;
        return `if(${match}, ${2 ** j}, 0)`;
      })
      .join(' + ');
    // p<i>: where step i is first matched after step i-1 (0: never); the level is how many matched.
    const positions = q.steps.map((_, i) => {
      const after = i === 0 ? '' : ` AND j > p${i - 1}`;
      const first = `arrayFirstIndex((x, j) -> bitAnd(x, ${2 ** i}) != 0${after}, ev, arrayEnumerate(ev))`;
      return `${i === 0 ? first : `if(p${i - 1} = 0, 0, ${first})`} AS p${i}`;
    });
    const level = q.steps.map((_, i) => `(p${i} > 0)`).join(' + ');
    const [row] = await this.query<Record<string, string>>(
      `SELECT ${q.steps.map((_, i) => `countIf(lvl >= ${i + 1}) AS r${i}`).join(', ')}
       FROM (
         SELECT visitor_id, max(l) AS lvl FROM (
           SELECT visitor_id, ${positions.join(', ')}, ${level} AS l FROM (
             SELECT session_id, any(visitor_id) AS visitor_id, arraySort((m, t) -> t, groupArray(mask), groupArray(event_ms)) AS ev
             FROM (SELECT session_id, visitor_id, event_ms, ${mask} AS mask FROM ${source} WHERE is_bot = 0)
             WHERE mask > 0 GROUP BY session_id))
         GROUP BY visitor_id)`,
      `reading the funnel of ${q.site}`,
    );
    return q.steps.map((step, i) => ({ step, visitors: num(row?.[`r${i}`]) }));
  }
}

/** The view events' columns but the property arrays. */
const EVENT_COLUMNS_WITHOUT_PROPERTIES = ['dir', ...VIEW_COLUMNS.events.map((c) => c.name).filter((n) => n !== 'property_keys' && n !== 'property_values')].join(', ');

/** A fixed dimension, or a custom property (the view events hold every property). */
function known(d: AnyDimension): boolean {
  return isPropDimension(d) || (!isVisitPageDimension(d) && DIMENSIONS.includes(d));
}

/**
 * ViewReader over the current ClickHouse version; each call reads the pointer (one tiny query,
 * reused for `pointerCacheMs`), so a published or rolled-back version is used by the next query
 * after that. Manifests are immutable and cached by version.
 */
export class ClickHouseViewsReader implements ViewReader, WatermarkSource {
  readonly source = 'batch' as const;
  readonly exact = true;
  private readonly manifests = new Map<string, ViewVersion>();
  private cachedPointer: { at: number; value: Promise<ViewPointer | null> } | undefined;

  constructor(
    private readonly loc: ViewsLocation,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The pointer, read at most every `pointerCacheMs` (concurrent requests share one read; a failed read is not kept). */
  pointer(): Promise<ViewPointer | null> {
    const ttl = this.loc.pointerCacheMs ?? 0;
    const now = this.clock();
    if (ttl > 0 && this.cachedPointer && now - this.cachedPointer.at < ttl) return this.cachedPointer.value;
    const value = readPointer(this.loc, { timeoutMs: this.loc.readTimeoutMs });
    if (ttl > 0) {
      const entry = { at: now, value };
      this.cachedPointer = entry;
      value.catch(() => {
        if (this.cachedPointer === entry) this.cachedPointer = undefined;
      });
    }
    return value;
  }

  private async manifest(version: string): Promise<ViewVersion> {
    const cached = this.manifests.get(version);
    if (cached) return cached;
    const [row] = await this.loc.connection.rows<{ manifest: string }>(
      `SELECT manifest FROM ${qualifiedName(this.loc.database, VIEW_VERSIONS_TABLE)} WHERE version = ${quoteString(version)} LIMIT 1`,
      `reading the manifest of ${version}`,
      { timeoutMs: this.loc.readTimeoutMs },
    );
    if (!row) throw new UsageError('VIEW_VERSION_MISSING', `the batch views pointer names ${version}, which ClickHouse holds no manifest of`);
    const m = JSON.parse(row.manifest) as ViewVersion;
    this.manifests.set(version, m);
    return m;
  }

  async snapshot(): Promise<ClickHouseSnapshot | null> {
    const p = await this.pointer();
    return p ? new ClickHouseSnapshot(this.loc, await this.manifest(p.version), this.clock()) : null;
  }

  current(): Promise<ClickHouseSnapshot | null> {
    return this.snapshot();
  }

  async watermark(): Promise<number | null> {
    return (await this.pointer())?.watermark ?? null;
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

  async close(): Promise<void> {
    await this.loc.connection.close();
  }
}
