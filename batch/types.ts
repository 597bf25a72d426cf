/** Types of the batch part's public surface. */
import type { RetentionTiers } from '../core/retention.ts';
/** What `runBatch` is asked to compute: explicit days, a range, or the dirty days. */
export interface BatchRequest {
  dates?: string[];
  from?: string;
  to?: string;
  /** Days whose lake files changed since their last run, plus days never computed (complete days only). */
  dirty?: boolean;
  /**
   * With `dirty`: also the UTC day holding this instant, up to it (a site's local midnight that
   * has passed: its local day is then wholly in batch, contract 9), unless already covered that far.
   */
  until?: number;
  /**
   * With `dirty`: a day (or part of one) is computed only when it ends at or before this instant:
   * the time up to which the lake holds every partition's records, less the allowed lateness
   * (lake.coverage.ts). Later ones are held back and listed in the run's `held`.
   */
  completeBefore?: number;
  /** Exactly these days, each whole or up to its `until` (an erasure recomputes the days a version holds, as far as it held them). */
  parts?: { day: string; until?: number }[];
}

export interface DayRun {
  day: string;
  rowsRead: number;
  /** Rows of the day after deduplication by event id. */
  events: number;
  duplicates: number;
  /** Rows in the day's folder whose event time is outside the day (kept out, reported). */
  outsideDay: number;
  rowsWritten: number;
  durationMs: number;
  /** Computed up to this instant only (a site's local midnight). */
  until?: number;
  /** Rows of erased visitors still in the lake, left out. */
  erased?: number;
}

/** The run record orchestration stores in its job ledger. */
export interface RunRecord {
  runId: string;
  status: 'ok' | 'failed' | 'noop';
  start: string;
  end: string;
  durationMs: number;
  /** The version this run published (null when it published none). */
  version: string | null;
  watermark: number | null;
  days: DayRun[];
  rowsRead: number;
  rowsWritten: number;
  errors: string[];
  /** Days left without lake data by an erasure: dropped from the version. */
  removed?: string[];
  /** Dirty days held back because the lake does not cover their end yet (`completeBefore`). */
  held?: string[];
  /** Where the first held day's data ends (its end, or `until`). */
  heldUntil?: number;
}

export interface DayEntry {
  /** Folder of the day's view files, relative to the views root. */
  dir: string;
  computedAt: number;
  /** Newest lake mtime seen before the day was read; a newer file makes the day dirty. */
  lakeStamp: number;
  events: number;
  /** A day computed up to this instant only (a site's local midnight); absent: the whole day. */
  until?: number;
  /**
   * The folder holds visitor sketches (sketches.parquet) of every site with at least this many
   * visitors that day (batch/visitor.sketches.ts); absent in folders written before them.
   */
  sketchMinVisitors?: number;
  /**
   * Tables the retention step deleted from the folder, their tier being over (core/retention.ts,
   * batch/views.retention.ts): `minute`, then `hour`, then `events`. Readers answer what needs
   * them as missing, with the tier's reason.
   */
  trimmed?: string[];
}

/** A month's views (batch/month.views.ts): per site, the exact metrics of its local month. */
export interface MonthEntry {
  /** Folder of month.parquet, relative to the views root (`months/<YYYY-MM>/<runId>`). */
  dir: string;
  computedAt: number;
}

/** An immutable version: which run's files answer each covered day. */
export interface VersionManifest {
  version: string;
  createdAt: number;
  runId: string;
  parent: string | null;
  watermark: number | null;
  days: Record<string, DayEntry>;
  /** Month views by local month (`YYYY-MM`); absent in versions written before them. */
  months?: Record<string, MonthEntry>;
  /** The retention tiers (ms) the version's days are held to (core/retention.ts); absent: none recorded. */
  retention?: RetentionTiers;
}

/** The one atomic pointer (contract 5). */
export interface Pointer {
  version: string;
  watermark: number | null;
  updatedAt: number;
  /** Why it moved: a run, or a rollback. */
  reason: 'run' | 'rollback';
}

/** Funnels are part of the read contract (core/views.ts). */
export type { FunnelQuery, FunnelStep, FunnelStepResult } from '../core/views.ts';

export interface CompactionResult {
  day: string;
  hour: number;
  filesBefore: number;
  filesAfter: number;
  rows: number;
}
