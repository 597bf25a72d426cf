/** Types of the transfer part's public surface: imports of history into the lake, exports out of it. */
/** Where an import reads from. */
export type ImportKind = 'events' | 'umami';

/** Formats of an events file (our own event shape, transfer/README.md). */
export type EventsFileFormat = 'ndjson' | 'csv' | 'parquet';

/**
 * One row of a source, before validation: a record in our importable event shape (the fields of
 * the lake row, transfer/README.md), or why the row could not even be read as one.
 */
export interface SourceRow {
  /** 1-based position in the source (line of NDJSON or CSV, row of Parquet, rank of an Umami event). */
  row: number;
  /** The parsed record, or the reason it is unreadable (bad JSON, a broken CSV line). */
  record: Record<string, unknown> | { unreadable: string };
  /** The row's original bytes (a dead letter keeps them). */
  raw: () => Buffer;
  /** How far the source is after this row, for a resume (opaque to the runner). */
  resume: ResumePoint;
}

/** Where a source starts again after an interruption: the next row's number and a source-specific position. */
export interface ResumePoint {
  /** Rows handed out so far (the next row is the (rows+1)-th). */
  rows: number;
  /** Byte offset of the next row in a file, or the keyset position of a database query. */
  position?: string;
}

export interface SourceSize {
  unit: 'rows' | 'bytes';
  total: number;
  /** Rows the source itself leaves out for being at or after the cutoff (a database query filters them). */
  afterCutoff?: number;
}

/** A readable source of rows, able to start again from a resume point. */
export interface ImportSource {
  /** Stable description, part of the import id (no password). */
  readonly identity: string;
  /** What the progress bar counts: rows when the total is known, else bytes. */
  size(until: number | null): Promise<SourceSize>;
  rows(from: ResumePoint, until: number | null): AsyncIterable<SourceRow>;
  /** Where the source stands in the progress unit (bytes read, or rows). */
  progress(): number;
  close(): Promise<void>;
}

/** Counts of an import (also a dry run's verdict). */
export interface ImportCounts {
  read: number;
  imported: number;
  deadLettered: number;
  /** Rows of erased visitors or sites (core/erasure.list.ts), left out. */
  erased: number;
  /** Rows at or after the site's live-tracking start (or the import's start), left out. */
  afterCutoff: number;
}

export interface ImportReport {
  id: string;
  kind: ImportKind;
  dryRun: boolean;
  /** Resumed from an interrupted run of the same import. */
  resumed: boolean;
  /** Already complete before this run: nothing was read. */
  alreadyDone: boolean;
  counts: ImportCounts;
  /**
   * What was left out as not history: events at or after the import's start, and (unless
   * `overlap`) a site's events at or after its live tracking began (live-start.ts).
   */
  cutoff: ImportCutoff;
  /** UTC days that received files (marked dirty for the batch job), sorted. */
  days: string[];
  files: number;
  durationMs: number;
  /** Dead letters of the first bad rows (row number, code, message); `dlq list` has them all. */
  badRows: { row: number; code: string; message: string }[];
}


export type ExportFormat = 'parquet' | 'csv' | 'ndjson';

/** Where an import stops, fixed at its first run (a resume keeps it). */
export interface ImportCutoff {
  importStart: number;
  /** Earliest live event per site (epoch ms), as found when the import began; empty with `overlap`. */
  liveStarts: Record<string, number>;
  overlap: boolean;
}
