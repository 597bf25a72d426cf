/**
 * Types of the orchestration part: the job ledger's records, the job contract the scheduler
 * runs, and the ports through which jobs reach the other parts (batch, lake, speed, dlq).
 * Ports are small on purpose: the scheduler is unit-tested with fakes of them, and the wiring
 * (orchestration/wiring.ts) adapts the real parts to them.
 */
import type { Metric } from '../core/views.ts';

/** Jobs the scheduler knows. `views`, `drift`, `speed-retire` and `warehouse` run only as follow-ups of `batch`. */
export const JOB_NAMES = ['batch', 'drift', 'speed-retire', 'compaction', 'retention', 'warehouse', 'views', 'erase'] as const;
export type JobName = (typeof JOB_NAMES)[number];

/** Why a run started: its cron slot, a slot missed while the scheduler was down, an operator, or a previous job. */
export type Trigger = 'schedule' | 'catch-up' | 'manual' | 'after-batch' | 'pipeline';

/** `abandoned`: the process running it died (found by the next scheduler on the same host). */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** One run as the ledger shows it (the fold of its start and end entries). */
export interface JobRun {
  id: string;
  job: JobName;
  trigger: Trigger;
  /** The cron slot (epoch ms) for scheduled and catch-up runs. */
  scheduledFor?: number;
  startedAt: number;
  endedAt?: number;
  status: RunStatus;
  attempts: number;
  /** Days (YYYY-MM-DD, UTC) the run touched. */
  days: string[];
  rows: number;
  error?: string;
  errorCode?: string;
  /** Job-specific facts: batch watermark and version, drift per metric, files compacted... */
  details: Record<string, unknown>;
  host: string;
  pid: number;
}

/**
 * What a job returns; `next` are follow-up jobs run after it, in order, each only if the one before
 * succeeded; `independent` run after those, each whatever the others did.
 */
export interface JobOutput {
  days?: string[];
  rows?: number;
  details?: Record<string, unknown>;
  next?: JobDefinition[];
  independent?: JobDefinition[];
}

export interface JobContext {
  trigger: Trigger;
  scheduledFor?: number;
  attempt: number;
  /** Aborted when the scheduler stops or the job's lock is lost. */
  signal: AbortSignal;
}

export interface JobDefinition {
  name: JobName;
  run(ctx: JobContext): Promise<JobOutput>;
}

// ---- Ports to the other parts -------------------------------------------------------------

/** The result of one batch run (batch/). */
export interface BatchRunResult {
  /** Whether a new view version was published (false when nothing was dirty). */
  published: boolean;
  /** Days recomputed, YYYY-MM-DD. */
  days: string[];
  /** Events read (after dedupe) for those days. */
  rows: number;
  /** Watermark W before and after the run: end of the last complete day covered, epoch ms. */
  previousWatermark: number | null;
  watermark: number | null;
  version?: string;
}

export interface BatchPort {
  /** `until`: also compute the UTC day holding this instant up to it (a site's passed local midnight). */
  run(options: { signal: AbortSignal; until?: number }): Promise<BatchRunResult>;
}

export interface CompactionResult {
  partitions: number;
  filesBefore: number;
  filesAfter: number;
  rows?: number;
}

export interface CompactionPort {
  compact(options: { signal: AbortSignal }): Promise<CompactionResult>;
}

/**
 * One store with its own retention: the batch views' tiers (raw events, minute, hour, day and
 * month views; `clickhouse-views` mirrors them there), lake partitions, batch view versions, dead letters.
 */
export interface RetentionTarget {
  readonly store: 'batch-views' | 'clickhouse-views' | 'lake' | 'batch-versions' | 'dlq';
  /** Removes what is older than the store's retention as seen at `now`; returns how many items went. */
  purge(now: number): Promise<{ removed: number; items?: string[] }>;
}

/** The speed layer: drops the per-minute buckets that start before `t` (batch has replaced them); returns how many minutes went. */
export interface SpeedRetirePort {
  retireBefore(t: number): Promise<{ minutesDeleted: number }>;
}

/** Drift of one metric between speed and batch over the buckets both hold. */
export interface MetricDrift {
  metric: Metric;
  buckets: number;
  meanRelativeError: number;
  maxRelativeError: number;
  /** Sums over the compared buckets, so a reader sees the scale behind the ratios. */
  speedTotal: number;
  batchTotal: number;
}

export interface DriftReport {
  from: number;
  to: number;
  sites: number;
  metrics: MetricDrift[];
}

/** One day the warehouse step loaded. */
export interface WarehouseDayLoad {
  day: string;
  rows: number;
  duplicates: number;
  /** The batch computation (view folder) the day now holds. */
  source: string;
}

export interface WarehouseSyncResult {
  loaded: WarehouseDayLoad[];
  /** Days removed because the current batch version no longer covers them. */
  dropped: string[];
  /** Days that already held the current version's computation. */
  unchanged: number;
  /** The batch version the warehouse now mirrors (absent when there is none yet). */
  version?: string;
}

/** The ClickHouse warehouse (clickhouse/): makes it hold each day of the current batch version, one atomic swap per day. */
export interface WarehousePort {
  sync(options: { signal: AbortSignal }): Promise<WarehouseSyncResult>;
}

/** What publishing the current batch version into the serving store did. */
export interface ViewsPublishResult {
  /** The version the store now serves (null: none yet). */
  version: string | null;
  watermark: number | null;
  /** Whether its pointer moved. */
  moved: boolean;
  /** Day folders copied (per shard). */
  loaded: { dir: string; shard: number; rows: number }[];
  dropped: string[];
  /** `<dir> <table>` per table whose rows left the store, a retention tier being over. */
  trimmed?: string[];
}

/**
 * The batch-view store serving reads when it is not the batch job's own files (BATCH_VIEWS_STORE=
 * clickhouse): brings it to the current batch version; its pointer moves only once it holds all of it.
 */
export interface ViewsPublishPort {
  publish(options: { signal: AbortSignal }): Promise<ViewsPublishResult>;
}

