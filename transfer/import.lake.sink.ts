/**
 * Imported events into the lake, the archiver's way (batch/lake.writer.ts): a chunk of events is
 * written as spool lines (the archiver's CSV dialect, SpoolLineEncoder), DuckDB converts it to
 * zstd Parquet partitioned by event-time day and hour, a window of hours at a time (leaving out
 * erased visitors with the erasure list's `tl_erased` macro, as for every lake file),
 * LakeWriter.place writes an in-flight marker naming the final files, and they are fsynced and
 * renamed into `lake/events/dt=…/hour=…/` as
 * `import~<id>~p0~o<first>-<last>.parquet`, where first and last are the chunk's row ordinals.
 * The new files make their days dirty for the batch job (a newer lake stamp).
 *
 * The marker goes once the import's checkpoint names the chunk as done; a resume deletes the files
 * of markers past the checkpoint (InflightMarkers.recover, as the archiver does for uncommitted
 * offsets) and writes the chunk again, so every event lands once. Compaction leaves hours with
 * in-flight files alone, and never merges import files at all.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Type } from 'avsc';
import { openDuckDB, type DuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import type { ErasureList } from '../core/erasure.list.ts';
import { IMPORT_FILE_PREFIX, InflightMarkers, LakeWriter, LAKE_COLUMNS, lakePaths, SpoolLineEncoder } from '../batch/index.ts';
import { ImportWriteError } from './import.errors.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';

/**
 * Hours of event time per conversion. The archiver converts a spool with one partitioned COPY,
 * which buffers every open hour's columns: history spreads a chunk over a hundred hours and more
 * (a 1,000-row chunk over a week ran out of 160 MB), while one COPY per hour cost 5–40 ms each.
 */
const WINDOW_HOURS = 6;
const WINDOW_MS = WINDOW_HOURS * 3_600_000;
/** Spool bytes a window buffers before appending them to its file. */
const WINDOW_FLUSH_BYTES = 256 * 1024;
const SPOOL_COLUMNS = LAKE_COLUMNS.map(([n]) => n);

export interface PlacedChunk {
  first: number;
  last: number;
  rows: number;
  /** Lake-relative paths of the chunk's files. */
  files: string[];
  days: string[];
}

export interface ImportLakeSinkOptions {
  dataDir: string;
  importId: string;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  erasures: ErasureList;
  /** The event schema's Avro type (the encoder's column plan). */
  eventType: Type;
}

/**
 * The lines of one window of event time within a chunk: buffered, then appended to its own spool
 * file. A window is the unit of one conversion, so DuckDB never has more than WINDOW_HOURS hour
 * partitions open at once.
 */
class WindowSpool {
  rows = 0;
  longest = 0;
  private fd: number | undefined;
  constructor(
    readonly path: string,
    private readonly encoder: SpoolLineEncoder,
  ) {}

  add(event: TwinlaneEvent): void {
    this.encoder.appendEvent(event);
    this.rows++;
    if (this.encoder.bytes().length >= WINDOW_FLUSH_BYTES) this.flush();
  }

  flush(): void {
    const bytes = this.encoder.bytes();
    if (bytes.length === 0) return;
    mkdirSync(dirname(this.path), { recursive: true });
    this.fd ??= openSync(this.path, 'w');
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at, bytes.length - at);
    this.longest = Math.max(this.longest, this.encoder.longestLine);
    this.encoder.reset();
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class ImportLakeSink {
  readonly topic: string;
  private db: DuckDB | undefined;
  private writer: LakeWriter | undefined;
  private markers: InflightMarkers | undefined;
  private readonly paths: ReturnType<typeof lakePaths>;
  private readonly windows = new Map<number, WindowSpool>();

  constructor(private readonly o: ImportLakeSinkOptions) {
    this.topic = `${IMPORT_FILE_PREFIX}${o.importId}`;
    this.paths = lakePaths(o.dataDir);
  }

  async open(): Promise<void> {
    if (this.db) return;
    this.db = await openDuckDB({ ...this.o.duckdb, tempDir: join(this.paths.root, '_duckdb_tmp') }, { code: 'IMPORT_DUCKDB_OPEN_FAILED', purpose: 'the import' });
    this.markers = new InflightMarkers(this.paths.inflight, 'imports', this.o.importId);
    this.writer = new LakeWriter(this.db.conn, this.paths, this.topic, this.markers, this.o.erasures);
  }

  /**
   * Deletes files of chunks placed after the checkpoint (`committed` = rows the checkpoint covers)
   * and keeps those it covers. The markers take the next ordinal to read, as a Kafka commit does:
   * a chunk ending at `committed` was checkpointed (killed before its marker went) and stays.
   */
  recover(committed: number): { kept: number; deleted: number } {
    return this.markers!.recover(0, BigInt(committed) + 1n);
  }

  append(event: TwinlaneEvent, first: number): void {
    const window = Math.floor(event.event_time / WINDOW_MS);
    let w = this.windows.get(window);
    // Schema id 0: only the encoder's slow path (appendEvent) is used, never a framed payload.
    if (!w) this.windows.set(window, (w = new WindowSpool(join(this.paths.tmp, `${this.topic}-${first}-w${window}.csv`), new SpoolLineEncoder(this.o.eventType, 0, SPOOL_COLUMNS, 1 << 16))));
    w.add(event);
  }

  /**
   * Converts and places the chunk of ordinals [first, last] (the spools filled since the last
   * call); resolves once its files are durably in the lake, its marker still in place. Each
   * window's spool is one conversion of the archiver's (LakeWriter.convert: DuckDB, erased rows
   * left out, partitioned by day and hour), queued on its one connection in chunk order.
   */
  async place(first: number, last: number): Promise<PlacedChunk> {
    const spools = [...this.windows.values()];
    this.windows.clear();
    const rows = spools.reduce((n, w) => n + w.rows, 0);
    if (rows === 0) return { first, last, rows: 0, files: [], days: [] };
    const segments = spools.map((w) => {
      w.close();
      return this.writer!.convert({ path: w.path, rows: w.rows, longestLine: w.longest }, 0);
    });
    try {
      const converted = await Promise.all(segments);
      const placed = await this.writer!.place({ partition: 0, first: BigInt(first), last: BigInt(last), rows, maxTimestamp: 0 }, converted);
      const days = [...new Set(placed.files.map((f) => /dt=(\d{4}-\d{2}-\d{2})/.exec(f)?.[1]).filter((d): d is string => d !== undefined))].sort();
      return { first, last, rows, files: placed.files, days };
    } catch (err) {
      await Promise.allSettled(segments);
      throw new ImportWriteError(`could not write ${rows} imported events to the lake: ${(err as Error).message}`, err);
    } finally {
      for (const w of spools) rmSync(w.path, { force: true });
    }
  }

  /** The chunk is checkpointed: its marker goes. */
  committed(chunk: Pick<PlacedChunk, 'first' | 'last'>): void {
    this.markers!.remove({ partition: 0, first: String(chunk.first), last: String(chunk.last) });
  }

  async close(): Promise<void> {
    for (const w of this.windows.values()) {
      w.close();
      rmSync(w.path, { force: true });
    }
    this.windows.clear();
    await this.writer?.drain();
    this.db?.close();
    this.db = undefined;
  }
}
