/**
 * Imported events into the lake, the archiver's way (batch/lake.writer.ts): a chunk of events is
 * written as spool lines (the archiver's CSV dialect, event-line.encoder.ts), one spool per hour
 * of event time; DuckDB converts each hour's spool to one zstd Parquet file (leaving out erased
 * visitors with the erasure list's `tl_erased` macro, as for every lake file), LakeWriter.place
 * writes an in-flight marker naming the final files, and they are fsynced and renamed into
 * `lake/events/dt=…/hour=…/` as `import~<id>~p0~o<first>-<last>.parquet`, where first and last
 * are the chunk's row ordinals. The new files make their days dirty for the batch job (a newer
 * lake stamp).
 *
 * Why one plain COPY per hour rather than the archiver's one COPY partitioned by hour: history
 * spreads a chunk over a hundred hours and more, and a partitioned COPY buffers every open hour
 * (a 1,000-row chunk over a week ran out of 160 MB), so it had to go six hours at a time. A COPY
 * of one hour's spool holds that hour's rows only, whatever the chunk or the rows' order, and
 * costs DuckDB about the same CPU (measured on 200,000 bench rows over 144 hours: 1.0–1.5 s
 * either way on one thread). It also lets time-ordered rows (Umami's database gives them so)
 * convert an hour as soon as the next one begins, on DuckDB's thread while this one reads on,
 * instead of all at the chunk's end.
 *
 * The marker goes once the import's checkpoint names the chunk as done; a resume deletes the files
 * of markers past the checkpoint (InflightMarkers.recover, as the archiver does for uncommitted
 * offsets) and writes the chunk again, so every event lands once. Compaction leaves hours with
 * in-flight files alone, and never merges import files at all.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { listValue, type DuckDBPreparedStatement } from '@duckdb/node-api';
import { openDuckDB, type DuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import { ERASED_MACRO, type ErasureList } from '../core/erasure.list.ts';
import { DependencyError } from '../core/errors.ts';
import { ARCHIVER_PARQUET_OPTIONS, IMPORT_FILE_PREFIX, InflightMarkers, LakeWriter, lakePaths, SPOOL_READ_OPTIONS_SQL, SPOOL_TO_LAKE_SQL, spoolReadLimits, type ConvertedSegment } from '../batch/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { EventLineEncoder } from './event-line.encoder.ts';
import { ImportWriteError } from './import.errors.ts';

const HOUR_MS = 3_600_000;
/** Spool bytes one hour buffers before appending them to its file. */
const HOUR_FLUSH_BYTES = 256 * 1024;
/**
 * Spool bytes all hours of a chunk buffer together before every one is appended to its file: a
 * source out of time order spreads a chunk over thousands of hours, a time-ordered one fills one
 * hour at a time.
 */
const BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Hours done with fewer rows than this go to DuckDB together (one COPY partitioned by hour) until
 * the batch holds this many rows or BATCH_HOURS hours; a bigger hour goes alone (a plain COPY).
 * Each statement and each file cost DuckDB a few milliseconds whatever its rows: 200,000 rows
 * over 720 hours took 6.2–6.5 s hour by hour and 4.7–5.1 s in batches of 1,000 rows, at the
 * same peak RSS; batches of 2,000 rows were faster still (4.3–4.5 s) but cost 20 MB more RSS (a
 * partitioned COPY buffers each hour it holds). Dense history (the bench's 1,400 rows an hour)
 * converts hour by hour.
 */
const BATCH_ROWS = 1_000;
const BATCH_HOURS = 24;

/** One hour's spool file as a lake file, erased visitors left out (the partition columns live in the path). */
const HOUR_COPY_SQL = `COPY (SELECT * EXCLUDE (dt, hour) FROM (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_csv($spool, ${SPOOL_READ_OPTIONS_SQL})) WHERE NOT ${ERASED_MACRO}(site_id, visitor_id))
  TO $file (${ARCHIVER_PARQUET_OPTIONS})`;
/** Several hours' spool files as lake files under `$dir/dt=…/hour=…/`: the archiver's conversion (batch/lake.writer.ts). */
const HOURS_COPY_SQL = `COPY (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_csv($spool, ${SPOOL_READ_OPTIONS_SQL}) WHERE NOT ${ERASED_MACRO}(site_id, visitor_id))
  TO $dir (${ARCHIVER_PARQUET_OPTIONS}, PARTITION_BY (dt, hour))`;

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
}

/**
 * Line buffers of hours that are done, for the next hours to fill: a new buffer per hour, grown
 * again and again to the flush size, made a line cost twice as much (measured).
 */
class LineBuffers {
  private readonly free: EventLineEncoder[] = [];

  take(): EventLineEncoder {
    return this.free.pop() ?? new EventLineEncoder();
  }

  give(lines: EventLineEncoder): void {
    lines.reset();
    if (this.free.length < 4) this.free.push(lines);
  }
}

/** The lines of one hour of event time within a chunk: buffered, then appended to its own spool file. */
class HourSpool {
  rows = 0;
  longest = 0;
  private lines: EventLineEncoder | undefined;
  private fd: number | undefined;
  private written = false;

  constructor(
    readonly hour: number,
    readonly path: string,
    private readonly buffers: LineBuffers,
  ) {}

  /** Appends the event's line; returns the bytes it added to the buffer. */
  add(event: TwinlaneEvent): number {
    const lines = (this.lines ??= this.buffers.take());
    const before = lines.length;
    lines.append(event);
    this.rows++;
    return lines.length - before;
  }

  get buffered(): number {
    return this.lines?.length ?? 0;
  }

  /**
   * Appends the buffered lines to the file; `release` closes it and gives the buffer back (the
   * hour may get no more rows, or too many hours are open at once).
   */
  flush(release: boolean): void {
    const lines = this.lines;
    const bytes = lines?.bytes();
    if (lines && bytes!.length > 0) {
      this.fd ??= openSync(this.path, this.written ? 'a' : 'w');
      for (let at = 0; at < bytes!.length; ) at += writeSync(this.fd, bytes!, at, bytes!.length - at);
      this.written = true;
      this.longest = Math.max(this.longest, lines.longestLine);
      lines.reset();
    }
    if (!release) return;
    this.close();
    if (lines) this.buffers.give(lines);
    this.lines = undefined;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

type HourFile = ConvertedSegment['files'][number];

/** Files DuckDB's partitioned COPY wrote under `dir` (dt=…/hour=…/data_N.parquet). */
function written(dir: string): HourFile[] {
  const out: HourFile[] = [];
  if (!existsSync(dir)) return out;
  for (const d of readdirSync(dir).sort())
    if (d.startsWith('dt='))
      for (const h of readdirSync(join(dir, d)).sort())
        if (h.startsWith('hour=')) for (const f of readdirSync(join(dir, d, h)).sort()) if (f.endsWith('.parquet')) out.push({ day: d.slice(3), hour: h.slice(5), path: join(dir, d, h, f) });
  return out;
}

/** `2026-03-14` and `07` of an hour since the epoch. */
function dayAndHour(hour: number): { day: string; hour: string } {
  const iso = new Date(hour * HOUR_MS).toISOString();
  return { day: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

export class ImportLakeSink {
  readonly topic: string;
  private db: DuckDB | undefined;
  private writer: LakeWriter | undefined;
  private markers: InflightMarkers | undefined;
  private readonly paths: ReturnType<typeof lakePaths>;
  /** Hours of the chunk being read that may still get rows. */
  private filling = new Map<number, HourSpool>();
  /** Rows spooled for the chunk being read. */
  private rows = 0;
  /** Hours of the chunk that got all their rows, waiting to make a batch. */
  private done: HourSpool[] = [];
  private doneRows = 0;
  /** Conversions of the chunk's batches of hours (started while the chunk is read). */
  private converting: Promise<HourFile[]>[] = [];
  /** Scratch folder of the chunk being read (its first ordinal names it). */
  private scratch: string | undefined;
  private buffered = 0;
  private writing: HourSpool | undefined;
  private readonly buffers = new LineBuffers();
  private files = 0;
  /** The latest hour a row had, and whether every row so far came in time order (then an hour is done once a later one begins). */
  private latest = -Infinity;
  private inOrder = true;
  /** The two conversions, prepared with the erasure list's macro of version `macro`. */
  private copies: { hour: DuckDBPreparedStatement; hours: DuckDBPreparedStatement } | undefined;
  private macro: string | undefined;
  private batches = 0;
  /** One conversion at a time, in the order hours were done. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ImportLakeSinkOptions) {
    this.topic = `${IMPORT_FILE_PREFIX}${o.importId}`;
    this.paths = lakePaths(o.dataDir);
  }

  async open(): Promise<void> {
    if (this.db) return;
    // One thread: an hour's COPY is small, and a second thread cost a third more CPU than it saved (measured on the bench's hours).
    this.db = await openDuckDB({ ...this.o.duckdb, threads: 1, tempDir: join(this.paths.root, '_duckdb_tmp') }, { code: 'IMPORT_DUCKDB_OPEN_FAILED', purpose: 'the import' });
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

  /** Spools an event of the chunk starting at ordinal `first`. */
  append(event: TwinlaneEvent, first: number): void {
    if (this.scratch === undefined) {
      this.scratch = join(this.paths.tmp, `${this.topic}-${first}`);
      rmSync(this.scratch, { recursive: true, force: true });
      mkdirSync(this.paths.tmp, { recursive: true });
    }
    const hour = Math.floor(event.event_time / HOUR_MS);
    if (hour !== this.latest) this.turn(hour);
    this.rows++;
    let h = this.filling.get(hour);
    if (!h) this.filling.set(hour, (h = new HourSpool(hour, join(this.paths.tmp, `${this.topic}-${first}-h${hour}-${this.files++}.csv`), this.buffers)));
    this.buffered += h.add(event);
    if (h.buffered >= HOUR_FLUSH_BYTES) this.flush(h, false);
    if (this.buffered >= BUFFERED_BYTES) for (const x of this.filling.values()) this.flush(x, true);
  }

  /**
   * A row of another hour than the last row's. While rows come in time order (Umami's database
   * gives them so), the hours before it are done and convert now, while the rest of the chunk is
   * read; the first row back in time ends that for the import (an hour done early that gets
   * rows again would become a second file).
   */
  private turn(hour: number): void {
    if (hour < this.latest) this.inOrder = false;
    else if (this.inOrder) for (const h of this.filling.values()) if (h.hour < hour) this.seal(h);
    this.latest = Math.max(this.latest, hour);
  }

  /** Only the hour written last keeps its file open (time-ordered rows fill one hour after another). */
  private flush(h: HourSpool, release: boolean): void {
    this.buffered -= h.buffered;
    if (this.writing !== h) this.writing?.close();
    h.flush(release);
    this.writing = release ? undefined : h;
  }

  /** The hour has all its rows of this chunk: it converts alone, or joins the batch of small hours. */
  private seal(h: HourSpool): void {
    this.flush(h, true);
    this.filling.delete(h.hour);
    if (h.rows >= BATCH_ROWS) this.dispatch();
    this.done.push(h);
    this.doneRows += h.rows;
    if (this.doneRows >= BATCH_ROWS || this.done.length >= BATCH_HOURS) this.dispatch();
  }

  /** The done hours queue for conversion, behind every conversion asked for before. */
  private dispatch(): void {
    if (this.done.length === 0) return;
    const spools = this.done;
    const scratch = this.scratch!;
    this.done = [];
    this.doneRows = 0;
    const run = this.queue.then(() => this.convert(spools, scratch));
    this.queue = run.catch(() => undefined);
    run.catch(() => undefined); // awaited by place()
    this.converting.push(run);
  }

  /**
   * Converts and places the chunk of ordinals [first, last] (the hours spooled since the last
   * call); resolves once its files are durably in the lake, its marker still in place. Its
   * conversions queue behind the previous chunk's.
   */
  async place(first: number, last: number): Promise<PlacedChunk> {
    for (const h of [...this.filling.values()].sort((a, b) => a.hour - b.hour)) this.seal(h);
    this.dispatch();
    const { converting, scratch, rows } = this;
    this.converting = [];
    this.scratch = undefined;
    this.rows = 0;
    if (converting.length === 0 || scratch === undefined) return { first, last, rows: 0, files: [], days: [] };
    const settled = await Promise.allSettled(converting);
    try {
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      const key = (f: HourFile) => `${f.day} ${f.hour}`;
      // Sorted by hour (a stable sort: an hour converted twice keeps its order, so its second file is `~1`).
      const files = settled.flatMap((s) => (s as PromiseFulfilledResult<HourFile[]>).value).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      const placed = await this.writer!.place({ partition: 0, first: BigInt(first), last: BigInt(last), rows, maxTimestamp: 0 }, [{ scratch, files }]);
      const days = [...new Set(files.map((f) => f.day))].sort();
      return { first, last, rows, files: placed.files, days };
    } catch (err) {
      rmSync(scratch, { recursive: true, force: true });
      throw new ImportWriteError(`could not write rows ${first}–${last} of the import to the lake: ${(err as Error).message}`, err);
    }
  }

  /**
   * A batch of hours' spools → Parquet files under `scratch/…/dt=…/hour=…/`: one hour by a plain
   * COPY to its file, several by one COPY partitioned by hour. An hour whose rows were all erased
   * meanwhile gets no file.
   */
  private async convert(spools: HourSpool[], scratch: string): Promise<HourFile[]> {
    const rows = spools.reduce((n, h) => n + h.rows, 0);
    const limits = spoolReadLimits(Math.max(...spools.map((h) => h.longest)));
    try {
      const copies = await this.prepared();
      if (spools.length > 1) {
        mkdirSync(scratch, { recursive: true });
        const dir = join(scratch, `b${this.batches++}`);
        copies.hours.bind({ spool: listValue(spools.map((h) => h.path)), dir, ...limits });
        await copies.hours.run();
        return written(dir);
      }
      const h = spools[0]!;
      const { day, hour } = dayAndHour(h.hour);
      const dir = join(scratch, `dt=${day}`, `hour=${hour}`);
      const path = join(dir, `${basename(h.path, '.csv')}.parquet`);
      mkdirSync(dir, { recursive: true });
      copies.hour.bind({ spool: h.path, file: path, ...limits });
      if (Number((await copies.hour.run()).rowsChanged) > 0) return [{ day, hour, path }];
      rmSync(path, { force: true }); // as a partitioned COPY writes no file for no rows
      return [];
    } catch (err) {
      throw new DependencyError('LAKE_WRITE_FAILED', `could not write ${rows} imported events of ${spools.length} hours to Parquet: ${(err as Error).message}`, err);
    } finally {
      for (const h of spools) rmSync(h.path, { force: true });
    }
  }

  /**
   * The conversions, prepared once per version of the erasure list (its macro, re-read when the
   * list's file changed): a run is then one call into DuckDB. `run(sql, values)` prepared the
   * statement again each time, several calls that each wait for the reading thread to be free,
   * which made conversions several times slower while rows were being read (measured).
   */
  private async prepared(): Promise<NonNullable<typeof this.copies>> {
    const conn = this.db!.conn;
    this.o.erasures.refresh();
    if (this.copies && this.macro === this.o.erasures.version) return this.copies;
    this.dropPrepared();
    await conn.run(this.o.erasures.macroSql());
    this.macro = this.o.erasures.version;
    return (this.copies = { hour: await conn.prepare(HOUR_COPY_SQL), hours: await conn.prepare(HOURS_COPY_SQL) });
  }

  private dropPrepared(): void {
    this.copies?.hour.destroySync();
    this.copies?.hours.destroySync();
    this.copies = undefined;
    this.macro = undefined;
  }

  /** The chunk is checkpointed: its marker goes. */
  committed(chunk: Pick<PlacedChunk, 'first' | 'last'>): void {
    this.markers!.remove({ partition: 0, first: String(chunk.first), last: String(chunk.last) });
  }

  async close(): Promise<void> {
    for (const h of this.filling.values()) {
      h.close();
      rmSync(h.path, { force: true });
    }
    this.filling.clear();
    this.writing = undefined;
    this.buffered = 0;
    this.rows = 0;
    for (const h of this.done) rmSync(h.path, { force: true });
    this.done = [];
    this.doneRows = 0;
    await Promise.allSettled(this.converting);
    await this.queue;
    if (this.scratch !== undefined) rmSync(this.scratch, { recursive: true, force: true });
    this.converting = [];
    this.scratch = undefined;
    this.dropPrepared();
    this.db?.close();
    this.db = undefined;
  }
}
