/**
 * Decoded events of one Kafka partition waiting for the next roll, as CSV lines on local disk:
 * memory stays bounded whatever the volume, and DuckDB turns the files into Parquet with its own
 * threads. A spool is disposable: it only holds offsets that are not committed yet.
 *
 * The lines go to a series of segment files. A segment can be cut off and converted to Parquet
 * (in scratch, not yet in the lake) while the next one fills, so DuckDB works alongside decoding
 * instead of all at once when the roll comes, and each conversion stays small.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';

/** A partition's events converted to Parquet in a scratch folder (lake.writer.ts). */
export interface ConvertedSegment {
  scratch: string;
  /** Files DuckDB wrote, by event-time day and hour, in a stable order. */
  files: { day: string; hour: string; path: string }[];
}

export interface SpoolSegment {
  readonly path: string;
  rows: number;
  /** Bytes of its longest line: DuckDB's CSV reader needs a line limit at least that big. */
  longestLine: number;
  /** Set once the segment is handed to DuckDB; rejects when the conversion failed. */
  converted?: Promise<ConvertedSegment>;
}

export class PartitionSpool {
  rows = 0;
  first: bigint | undefined;
  last: bigint | undefined;
  /** Newest Kafka record timestamp of the spooled range (epoch ms): how far in time the roll archives. */
  maxTimestamp = -Infinity;
  readonly openedAt = Date.now();
  private readonly segments: SpoolSegment[] = [];
  private open: SpoolSegment | undefined;
  private fd: number | undefined;

  constructor(
    readonly partition: number,
    /** Path prefix of the segment files (`<prefix>-<n>.csv`). */
    readonly path: string,
  ) {}

  /** Rows in the segment still being written. */
  get openRows(): number {
    return this.open?.rows ?? 0;
  }

  /** Appends `count` serialised lines (UTF-8, each ending in a newline, none longer than `longestLine`) covering offsets [first, last]. */
  append(lines: Uint8Array, count: number, first: bigint, last: bigint, longestLine: number): void {
    if (lines.length > 0) {
      if (this.open === undefined) {
        this.open = { path: `${this.path}-${this.segments.length}.csv`, rows: 0, longestLine: 0 };
        this.segments.push(this.open);
        this.fd = openSync(this.open.path, 'w');
      }
      for (let at = 0; at < lines.length; ) at += writeSync(this.fd!, lines, at, lines.length - at);
      this.open.rows += count;
      this.open.longestLine = Math.max(this.open.longestLine, longestLine);
    }
    this.rows += count;
    this.first ??= first;
    this.last = last;
  }

  /** Closes the segment being written and returns it (undefined when empty); later lines start a new one. */
  cut(): SpoolSegment | undefined {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const segment = this.open;
    this.open = undefined;
    return segment;
  }

  /** Closes the last segment; the spool takes no more lines. Returns every segment with rows, in order. */
  seal(): SpoolSegment[] {
    this.cut();
    return this.segments.filter((s) => s.rows > 0);
  }

  /** Deletes the segment files now, and each conversion's scratch folder once DuckDB is done with it. */
  discard(): void {
    this.cut();
    for (const s of this.segments) {
      rmSync(s.path, { force: true });
      s.converted?.then((c) => rm(c.scratch, { recursive: true, force: true })).catch(() => undefined);
    }
  }
}
