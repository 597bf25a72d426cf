/**
 * One import: rows of a source → the collector's validation, enrichment and PII redaction
 * (event-record.mapper.ts) → left out when erased (core/erasure.list.ts) or not history (the
 * cutoff) → the lake in chunks (import.lake.sink.ts); bad rows → the dead-letter store, each
 * letter naming the import and its row number. After each chunk's files are durably in place its
 * letters are written and the checkpoint moves past it (import.state.ts); a run of the same
 * import resumes there, so an import killed at any moment ends with every event exactly once.
 *
 * The sink converts a chunk's hours (DuckDB) while the next rows are read; reading waits when the
 * chunk before the last one has not been checkpointed yet, so at most one chunk is behind the
 * one being read, whatever the source's size.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import type { DuckDBOptions } from '../core/duckdb.ts';
import type { ErasureList } from '../core/erasure.list.ts';
import { UsageError } from '../core/errors.ts';
import { acquireFileLock } from '../core/file-lock.ts';
import type { Logger } from '../core/logger.ts';
import type { Sites } from '../core/sites.ts';
import { lakeDay, lakeDays, lockLakeRewrites, IMPORT_FILE_PREFIX } from '../batch/index.ts';
import { redactLetter, sourceLetterId, type ArchivedDeadLetter, type DeadLetterStore } from '../dlq/index.ts';
import type { EventEnricher } from '../ingest/index.ts';
import type { EventCodec } from '../schemas/index.ts';
import { EventRecordMapper, type Mapped } from './event-record.mapper.ts';
import { ImportBusyError, ImportWriteError } from './import.errors.ts';
import { ImportLakeSink, type PlacedChunk } from './import.lake.sink.ts';
import { emptyCounts, importsDir, readImportState, writeImportState, type ImportState } from './import.state.ts';
import { liveStarts } from './live-start.ts';
import type { ImportCounts, ImportKind, ImportReport, ImportSource, ResumePoint, SourceRow, SourceSize } from './types.ts';

export interface ImportProgress {
  /** Where the source stands, in `unit`. */
  done: number;
  total: number;
  unit: 'rows' | 'bytes';
  /** Rows read so far (this run and the runs it resumes). */
  rows: number;
}

export interface ImportDeps {
  dataDir: string;
  sites: Sites;
  erasures: ErasureList;
  enricher: EventEnricher;
  codec: Pick<EventCodec, 'type' | 'invalidPaths'>;
  /** Where bad rows go (opened by the caller); a dry run writes none. */
  letters: DeadLetterStore;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** Rows per chunk: per lake file and hour, and between checkpoints. */
  chunkRows: number;
  logger: Logger;
  now?: () => number;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportRequest {
  kind: ImportKind;
  source: ImportSource;
  /** The site of every row (Umami), or of rows naming none (events files). */
  site?: string;
  /** Import past the site's live-tracking start too. */
  overlap?: boolean;
  /** Read and check everything, write nothing. */
  dryRun?: boolean;
  /** Run an import that finished before again, from its first row (its earlier files are replaced). */
  again?: boolean;
}

/** Letters written per file within a chunk, so a chunk of bad rows never piles up in memory. */
const LETTERS_PER_FILE = 5_000;
const BAD_ROWS_KEPT = 20;
const PROGRESS_EVERY = 2_000;
/**
 * The longest the reading loop runs before it lets the event loop turn. A source whose stream
 * always has rows buffered never waits, so the loop ran for 70 ms and more at a time, and every
 * DuckDB conversion, which finishes through the event loop, waited that long: conversions took
 * 17 ms each instead of 6 and held the import to 70–80k rows/s (measured on the bench).
 */
const TURN_MS = 1;

/** The same source, site and options make the same id: running the command again resumes it. */
export function importIdOf(kind: ImportKind, site: string | undefined, identity: string, overlap: boolean): string {
  const h = createHash('sha256').update(`${kind}\0${site ?? ''}\0${identity}\0${overlap}`).digest('hex').slice(0, 12);
  return `${kind}-${site ?? 'sites'}-${h}`;
}

/** A chunk being read: the ordinals it covers and what its rows came to. */
interface Chunk {
  first: number;
  last: number;
  resume: ResumePoint | undefined;
  counts: ImportCounts;
  letters: ArchivedDeadLetter[];
  letterFiles: number;
  badRows: ImportState['badRows'];
}

function addCounts(a: ImportCounts, b: ImportCounts): void {
  for (const k of Object.keys(a) as (keyof ImportCounts)[]) a[k] += b[k];
}

/** Deletes the lake files of an earlier run of the import (`--again`), under the lake rewrite lock. */
function removeImportFiles(dataDir: string, id: string): number {
  const prefix = `${IMPORT_FILE_PREFIX}${id}~`;
  const release = lockLakeRewrites(dataDir);
  let n = 0;
  try {
    for (const day of lakeDays(dataDir))
      for (const f of lakeDay(dataDir, day).files)
        if (f.slice(f.lastIndexOf('/') + 1).startsWith(prefix)) {
          rmSync(f, { force: true });
          n++;
        }
  } finally {
    release();
  }
  return n;
}

export class ImportRun {
  private readonly mapper: EventRecordMapper;
  private readonly now: () => number;
  private state!: ImportState;
  private sink: ImportLakeSink | undefined;
  private size: SourceSize = { unit: 'rows', total: 0 };

  constructor(
    private readonly deps: ImportDeps,
    private readonly req: ImportRequest,
    readonly id: string,
  ) {
    this.now = deps.now ?? Date.now;
    this.mapper = new EventRecordMapper({ sites: deps.sites, enricher: deps.enricher, codec: deps.codec, importId: id, ...(req.site !== undefined ? { defaultSite: req.site } : {}) });
  }

  /** The instant a site's rows stop at: the import's start, or its live tracking's start when earlier. */
  private cutoffOf(site: string): number {
    const c = this.state.cutoff;
    return Math.min(c.importStart, c.liveStarts[site] ?? Infinity);
  }

  private async freshState(): Promise<ImportState> {
    const startedAt = this.now();
    const overlap = this.req.overlap === true;
    const live = overlap ? {} : await liveStarts(this.deps.dataDir, this.deps.duckdb, startedAt);
    const { kind, site } = this.req;
    return { v: 1, id: this.id, kind, site: site ?? null, source: this.req.source.identity, startedAt, cutoff: { importStart: startedAt, liveStarts: live, overlap }, status: 'running', next: { rows: 0 }, counts: emptyCounts(), days: [], files: 0, badRows: [] };
  }

  async run(): Promise<ImportReport> {
    const t0 = this.now();
    const { dataDir } = this.deps;
    const dryRun = this.req.dryRun === true;
    const previous = readImportState(dataDir, this.id);
    if (previous?.status === 'done' && !this.req.again && !dryRun) return this.report(previous, { dryRun, resumed: false, alreadyDone: true, ms: 0 });
    const resumed = previous?.status === 'running' && !dryRun;
    this.state = resumed ? previous : await this.freshState();
    if (previous?.status === 'done' && this.req.again && !dryRun) removeImportFiles(dataDir, this.id);
    const until = this.req.site !== undefined ? this.cutoffOf(this.req.site) : this.state.cutoff.importStart;
    this.size = await this.req.source.size(until);
    if (!dryRun) {
      writeImportState(dataDir, this.state);
      this.sink = new ImportLakeSink({ dataDir, importId: this.id, duckdb: this.deps.duckdb, erasures: this.deps.erasures });
      await this.sink.open();
      const r = this.sink.recover(this.state.next.rows);
      if (r.deleted) this.deps.logger.info({ event: 'import_recovered', id: this.id, deleted_files: r.deleted, from_row: this.state.next.rows }, 'files of a chunk placed after the checkpoint were deleted; it is read again');
    }
    this.deps.logger.info({ event: 'import_started', id: this.id, kind: this.req.kind, resumed, dry_run: dryRun, from_row: this.state.next.rows });
    try {
      await this.readAll(until);
    } finally {
      await this.sink?.close();
      await this.req.source.close();
    }
    this.state.counts.afterCutoff += this.size.afterCutoff ?? 0;
    this.state.status = 'done';
    this.state.doneAt = this.now();
    if (!dryRun) writeImportState(dataDir, this.state);
    return this.report(this.state, { dryRun, resumed, alreadyDone: false, ms: this.now() - t0 });
  }

  private newChunk(first: number): Chunk {
    return { first, last: first - 1, resume: undefined, counts: emptyCounts(), letters: [], letterFiles: 0, badRows: [] };
  }

  private async readAll(until: number): Promise<void> {
    let chunk = this.newChunk(this.state.next.rows + 1);
    let inflight: Promise<void> = Promise.resolve();
    this.deps.erasures.refresh(true);
    let turned = performance.now();
    for await (const r of this.req.source.rows(this.state.next, until)) {
      const lettering = this.take(chunk, r);
      if (lettering) await lettering;
      chunk.last = r.resume.rows;
      chunk.resume = r.resume;
      if (chunk.counts.read % PROGRESS_EVERY === 0) this.progress(chunk);
      if ((chunk.counts.read & 63) === 0 && performance.now() - turned > TURN_MS) {
        await setImmediate();
        turned = performance.now();
      }
      if (chunk.last - chunk.first + 1 >= this.deps.chunkRows) {
        inflight = (await this.finish(chunk, inflight)).done;
        chunk = this.newChunk(chunk.last + 1);
      }
    }
    if (chunk.resume) inflight = (await this.finish(chunk, inflight)).done;
    await inflight;
    this.progress(chunk);
  }

  private progress(chunk: Chunk): void {
    this.deps.onProgress?.({ done: this.req.source.progress(), total: this.size.total, unit: this.size.unit, rows: this.state.counts.read + chunk.counts.read });
  }

  /** One row's verdict, counted in its chunk; a promise only when the row became a dead letter (most rows never wait). */
  private take(chunk: Chunk, r: SourceRow): Promise<void> | undefined {
    const c = chunk.counts;
    c.read++;
    const mapped: Mapped = 'unreadable' in r.record ? { kind: 'dead-letter', stage: 'collect', code: 'PAYLOAD_FORMAT', message: String(r.record.unreadable) } : this.mapper.map(r.record, r.row);
    if (mapped.kind === 'dead-letter') {
      c.deadLettered++;
      return this.letter(chunk, r, mapped);
    }
    const e = mapped.event;
    if (e.event_time >= this.cutoffOf(e.site_id)) c.afterCutoff++;
    else if (this.deps.erasures.erased(e.site_id, e.visitor_id)) c.erased++;
    else {
      c.imported++;
      this.sink?.append(e, chunk.first);
    }
    return undefined;
  }

  private async letter(chunk: Chunk, r: SourceRow, m: Extract<Mapped, { kind: 'dead-letter' }>): Promise<void> {
    const message = `import ${this.id} row ${r.row}: ${m.message}`;
    if (chunk.badRows.length < BAD_ROWS_KEPT) chunk.badRows.push({ row: r.row, code: m.code, message: m.message });
    if (this.req.dryRun) return;
    const source = { topic: `${IMPORT_FILE_PREFIX}${this.id}`, partition: 0, offset: String(r.row) };
    const site = 'unreadable' in r.record ? this.req.site : typeof r.record.site_id === 'string' && this.deps.sites.get(r.record.site_id) ? r.record.site_id : this.req.site;
    const letter: ArchivedDeadLetter = redactLetter({
      id: sourceLetterId(source, m.stage), stage: m.stage, code: m.code, message, ...(m.field !== undefined ? { field: m.field } : {}), ...(site !== undefined ? { siteId: site } : {}),
      // The import's start as first-seen: a resume writes the same letter into the same day's file.
      firstSeen: this.state.startedAt, attempts: 1, source, payload: r.raw(), payloadFormat: 'unreadable' in r.record || this.req.kind === 'umami' ? 'binary' : 'json',
      reporter: 'import', dlqPartition: -1, dlqOffset: String(r.row), archivedAt: this.state.startedAt,
    });
    chunk.letters.push(letter);
    if (chunk.letters.length >= LETTERS_PER_FILE) await this.flushLetters(chunk);
  }

  private async flushLetters(chunk: Chunk): Promise<void> {
    if (chunk.letters.length === 0) return;
    const name = `${IMPORT_FILE_PREFIX}${this.id}-o${chunk.first}-${chunk.letterFiles++}`;
    try {
      await this.deps.letters.append(chunk.letters, name);
    } catch (err) {
      throw new ImportWriteError(`writing ${chunk.letters.length} dead letters of import ${this.id} failed: ${(err as Error).message}`, err);
    }
    chunk.letters = [];
  }

  /**
   * Starts placing the chunk (its conversion queues behind the previous one's), then waits for
   * the previous chunk's checkpoint: at most one chunk is behind the one being read.
   */
  private async finish(chunk: Chunk, previous: Promise<void>): Promise<{ done: Promise<void> }> {
    const placing: Promise<PlacedChunk> = this.sink ? this.sink.place(chunk.first, chunk.last) : Promise.resolve({ first: chunk.first, last: chunk.last, rows: 0, files: [], days: [] });
    placing.catch(() => undefined); // awaited below, after the previous chunk
    const done = (async () => {
      await previous;
      let placed: PlacedChunk;
      try {
        placed = await placing;
      } catch (err) {
        // The sink's own error already names the rows and says how to resume.
        if (err instanceof ImportWriteError) throw err;
        throw new ImportWriteError(`writing rows ${chunk.first}–${chunk.last} of import ${this.id} to the lake failed: ${(err as Error).message}`, err);
      }
      if (!this.req.dryRun) await this.flushLetters(chunk);
      this.checkpoint(chunk, placed);
    })();
    done.catch(() => undefined);
    await previous;
    return { done };
  }

  private checkpoint(chunk: Chunk, placed: PlacedChunk): void {
    const s = this.state;
    addCounts(s.counts, chunk.counts);
    s.next = chunk.resume!;
    s.files += placed.files.length;
    s.days = [...new Set([...s.days, ...placed.days])].sort();
    s.badRows = [...s.badRows, ...chunk.badRows].slice(0, BAD_ROWS_KEPT);
    if (this.req.dryRun) return;
    writeImportState(this.deps.dataDir, s);
    this.sink!.committed(placed);
    this.deps.logger.debug({ event: 'import_checkpoint', id: this.id, rows: s.next.rows, files: placed.files.length });
  }

  private report(s: ImportState, o: { dryRun: boolean; resumed: boolean; alreadyDone: boolean; ms: number }): ImportReport {
    return { id: s.id, kind: s.kind, dryRun: o.dryRun, resumed: o.resumed, alreadyDone: o.alreadyDone, counts: s.counts, cutoff: s.cutoff, days: s.days, files: s.files, durationMs: o.ms, badRows: s.badRows };
  }
}

/** Runs an import (or resumes it) under its own lock: one process per import at a time. */
export async function runImport(deps: ImportDeps, req: ImportRequest): Promise<ImportReport> {
  if (req.site !== undefined && !deps.sites.get(req.site)) throw new UsageError('UNKNOWN_SITE', `--site ${req.site} is not in the sites file`);
  if (req.kind === 'umami' && req.site === undefined) throw new UsageError('SITE_REQUIRED', 'an Umami import needs --site <id>: the Twinlane site its website becomes');
  if (!Number.isInteger(deps.chunkRows) || deps.chunkRows < 1) throw new UsageError('BAD_CHUNK_ROWS', `chunk rows must be a positive whole number, got ${deps.chunkRows}`);
  const id = importIdOf(req.kind, req.site, req.source.identity, req.overlap === true);
  const lock = join(importsDir(deps.dataDir), `${id}.lock`);
  const release = req.dryRun ? () => undefined : acquireFileLock(lock, { stale: { kind: 'holder-gone' }, busy: () => new ImportBusyError(id, lock) });
  try {
    return await new ImportRun(deps, req, id).run();
  } finally {
    release();
  }
}

/** Every import this DATA_DIR knows, newest first (`twinlane import list`). */
export function listImports(dataDir: string): ImportState[] {
  const dir = importsDir(dataDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'live-start.json')
    .map((f) => readImportState(dataDir, f.slice(0, -5))!)
    .filter((s) => s !== undefined)
    .sort((a, b) => b.startedAt - a.startedAt);
}
