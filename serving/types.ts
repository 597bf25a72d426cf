/**
 * What the serving layer needs from the rest of the pipeline, as small interfaces, and what
 * it answers. The speed and batch stores implement core/views.ts `ViewReader`; the extras
 * here (pinned batch versions, visitor ids across W, funnels, jobs, read keys) are optional
 * so the API works with whatever a store offers and says so when it cannot answer.
 */
import type { IdSets } from '../core/day-sketches.ts';
import type { AnyDimension, Coverage, Dimension, FilterCondition, Filters, FunnelQuery, FunnelStepResult, Grain, Metric, MetricValues, RangeQuery, ViewReader } from '../core/views.ts';

/** Funnels are part of the read contract (core/views.ts). */
export type { FunnelQuery, FunnelStep, FunnelStepResult } from '../core/views.ts';
export type { IdSets } from '../core/day-sketches.ts';

/** Ids streamed in chunks: a range of any length never holds all its ids in memory at once. */
export type IdChunks = AsyncIterable<readonly string[]>;

/**
 * The batch side's ids for a union across W (`sketch()` ∪ `ids()`); `key` names them (version,
 * site, range, filters), so the union may keep their sketch and not read them again.
 */
export interface ExtraIds extends IdSets {
  key?: string;
}

/**
 * Exact visitor ids of a range (batch side), so uniques across W are never counted twice. An id
 * may come more than once (once per day it was seen): they go into a sketch, which counts it once.
 */
export interface VisitorIdsReader {
  visitorIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): IdChunks;
}

/** The same visitors as `visitorIds`, whole sketched days as one sketch (lazy: nothing is read until asked). */
export interface VisitorSetsReader {
  visitorSets(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): IdSets;
}

/** Speed-side union of its sketches over [from, to) with extra ids (the batch side's visitors). */
export interface VisitorsUnionReader {
  visitorsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: Filters, conditions?: readonly FilterCondition[]): Promise<number>;
}

/**
 * Sessions across W (contract 9): the batch side's exact visit ids go into the speed side's
 * session sketches, so a visit with events on both sides of W counts once. Both sides name a visit
 * `visitor@start-ms` (core/sessions.ts), which is what makes the ids meet.
 */
export interface SessionIdsReader {
  sessionIds(site: string, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): IdChunks;
}

export interface SessionsUnionReader {
  sessionsUnion(site: string, from: number, to: number, extra: ExtraIds, filters?: Filters, conditions?: readonly FilterCondition[]): Promise<number>;
}

/** One visit's part within a range: its first and last event there and its page views there. */
export interface VisitPart {
  first: number;
  last: number;
  pageviews: number;
}

/**
 * The parts of visits near W, so bounce rate and visit duration over a range spanning W take a
 * visit on both sides whole: batch gives its visits of [from, to) whose last event is at or after
 * `lastFrom`, speed every visit of [from, to) (its bounce and duration come from them anyway).
 */
export interface VisitPartsReader {
  visitParts(site: string, from: number, to: number, lastFrom: number): Promise<Map<string, VisitPart>>;
}

export interface FunnelReader {
  funnel(q: FunnelQuery): Promise<FunnelStepResult[]>;
}

/**
 * One batch version, pinned for the length of one request: every read of a response goes
 * to the same version, and `version` keys the cache (batch results never change per version).
 */
export interface BatchViews extends ViewReader, Partial<VisitorIdsReader>, Partial<VisitorSetsReader>, Partial<SessionIdsReader>, Partial<VisitPartsReader>, Partial<FunnelReader>, Partial<RetainedReader> {
  readonly version: string;
}

/**
 * Tiered retention (core/retention.ts): where a batch version answers from on, by what a query
 * needs (`events`: totals, breakdowns, ids, funnels; `views`: the days still in the version), and
 * why not before; null when nothing was let go. Series say it per bucket (SeriesPoint.missing).
 */
export interface RetainedReader {
  retained(need: 'events' | 'views'): { from: number; reason: string } | null;
}

/** A span the stores cover but a retention tier no longer holds, with the reason. */
export interface MissingReason {
  from: number;
  to: number;
  reason: string;
}

/** Gives the current batch version; called once per request, so a new version is used at once. */
export interface BatchSource {
  current(): Promise<BatchViews | null>;
}

/** The speed store's one-round-trip realtime answer (the last 5 minutes' visitors, 30 minutes of page views). */
export interface RealtimeSnapshotLike {
  visitorsLast5m: number;
  pageviewsPerMinute: { start: number; pageviews: number }[];
}

export interface RealtimeReader {
  realtime(site: string): Promise<RealtimeSnapshotLike>;
}

export type SpeedViews = ViewReader & Partial<VisitorsUnionReader> & Partial<SessionsUnionReader> & Partial<VisitPartsReader> & Partial<RealtimeReader>;

/** A job of the orchestration ledger, as the API shows it. */
export interface JobRecord {
  id: string;
}

export interface JobsReader {
  list(limit: number): Promise<JobRecord[]>;
  get(id: string): Promise<JobRecord | null | undefined>;
}

/** A named filter set of a site (sites file `segments`): the query endpoint's filter clauses. */
export interface SavedSegment {
  name: string;
  filters: readonly (readonly [string, string, string | readonly string[]])[];
}

/** The sites, their read keys and reporting currencies (core/sites.ts `Sites` fits this shape). */
export interface SiteDirectory {
  get(id: string): { currency: string; timezone?: string; segments?: readonly SavedSegment[]; goals?: readonly { name: string; page?: string | undefined; event?: string | undefined }[]; properties?: readonly string[] } | undefined;
  authorizeRead(siteId: string, readKey: string | undefined): boolean;
}

export type SourceName = 'batch' | 'speed';
export type SourceChoice = SourceName | 'merged';

/** Per-bucket provenance (contract 7): which store answered, whether it is exact, or missing. */
export interface MergedPoint {
  start: number;
  /** `batch+speed`: a week or month holding W, its two sides merged as totals are. */
  source: SourceName | 'batch+speed' | null;
  exact: boolean;
  /** `missing`: neither side covers the bucket; `partial`: the source covers only its beginning. */
  status: 'ok' | 'partial' | 'missing';
  values: Partial<Record<Metric, number | null>>;
  /** Why a `missing` bucket is missing, when a retention tier let it go. */
  reason?: string;
}

export interface CoverageMeta {
  /** Batch watermark W (epoch ms), or null when no batch version exists yet. */
  watermark: number | null;
  batchVersion: string | null;
  batch: Coverage | null;
  speed: Coverage | null;
  /** True when every bucket of the range is served by a store. */
  complete: boolean;
  missingBuckets: number;
  partialBuckets: number;
  /** Sub-ranges of the query no store covers (up to now), in time order. */
  missingRanges: [number, number][];
  /** Spans missing because a retention tier let them go, with the reason (absent: none). */
  missingReasons?: MissingReason[];
}

export interface MergedSeries {
  grain: Grain;
  metrics: Metric[];
  points: MergedPoint[];
  meta: CoverageMeta;
}

export interface MergedTotals {
  values: Partial<Record<Metric, number | null>>;
  /** Which stores contributed, and whether the figures are exact. */
  sources: SourceName[];
  exact: boolean;
  /** How uniques were combined across W, for the response's metadata. */
  uniques: 'batch' | 'speed' | 'union' | 'sum-upper-bound' | 'none';
  meta: CoverageMeta;
}

export interface MergedBreakdownRow {
  value: string;
  count: number;
}

export interface MergedBreakdown {
  dimension: AnyDimension;
  metric: 'pageviews' | 'visitors' | 'events' | 'revenue';
  rows: MergedBreakdownRow[];
  sources: SourceName[];
  exact: boolean;
  meta: CoverageMeta;
}

export type { Coverage, Dimension, FilterCondition, Filters, Grain, Metric, MetricValues, RangeQuery, ViewReader };
