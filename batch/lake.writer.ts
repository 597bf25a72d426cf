/**
 * Turns spools into lake files. DuckDB converts each spool segment to zstd Parquet partitioned
 * by dt/hour in a scratch folder (one conversion at a time on the connection, possibly before
 * the roll). At the roll, per partition, a marker naming the final files is made durable, each
 * file is fsynced and renamed into its hour folder, and the folders are fsynced. The caller
 * commits offsets afterwards and then removes the markers.
 *
 * The file-system steps are async: they overlap the next conversion and the consumer's
 * decoding instead of blocking the event loop.
 */
import { ERASED_MACRO, type ErasureList } from '../core/erasure.list.ts';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DependencyError } from '../core/errors.ts';
import { fsyncPath } from '../core/durable-fs.ts';
import { lakeFileName, type LakePaths } from './lake.layout.ts';
import { ARCHIVER_PARQUET_OPTIONS, SPOOL_READ_OPTIONS_SQL, SPOOL_TO_LAKE_SQL, spoolReadLimits } from './lake.schema.ts';
import type { InflightMarkers } from './lake-recovery.ts';
import type { ConvertedSegment, PartitionSpool, SpoolSegment } from './partition.spool.ts';

export interface RolledPartition {
  partition: number;
  first: bigint;
  last: bigint;
  rows: number;
  files: string[];
  bytes: number;
  /** Newest Kafka record timestamp of the range (epoch ms). */
  maxTimestamp: number;
}

/** What a roll knows of one partition: its offset range and row count. */
export type PartitionRange = Pick<RolledPartition, 'partition' | 'first' | 'last' | 'rows' | 'maxTimestamp'>;

/** Erased visitors' records, which Kafka still holds, never reach a lake file (core/erasure.list.ts). */
const COPY_SQL = `COPY (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_csv($spool, ${SPOOL_READ_OPTIONS_SQL}) WHERE NOT ${ERASED_MACRO}(site_id, visitor_id))
  TO $dir (${ARCHIVER_PARQUET_OPTIONS}, PARTITION_BY (dt, hour))`;

/** Files DuckDB wrote under `dir` (dt=…/hour=…/data_N.parquet). */
function listWritten(dir: string): ConvertedSegment['files'] {
  const out: ConvertedSegment['files'] = [];
  for (const d of readdirSync(dir).sort()) {
    if (!d.startsWith('dt=')) continue;
    for (const h of readdirSync(join(dir, d)).sort()) {
      if (!h.startsWith('hour=')) continue;
      for (const f of readdirSync(join(dir, d, h)).sort()) if (f.endsWith('.parquet')) out.push({ day: d.slice(3), hour: h.slice(5), path: join(dir, d, h, f) });
    }
  }
  return out;
}

export class LakeWriter {
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly paths: LakePaths,
    private readonly topic: string,
    private readonly markers: InflightMarkers,
    private readonly erasures: ErasureList,
  ) {}

  /** The erasure macro of the list as it is now (re-read when its file changed). */
  private macroVersion: string | undefined;
  private async defineErased(): Promise<void> {
    this.erasures.refresh();
    if (this.macroVersion === this.erasures.version) return;
    await this.conn.run(this.erasures.macroSql());
    this.macroVersion = this.erasures.version;
  }

  /** No conversion is running or waiting. */
  get idle(): boolean {
    return this.queued === 0;
  }

  /** Resolves once every conversion asked for so far has finished (before closing DuckDB). */
  async drain(): Promise<void> {
    await this.queue;
  }

  /** Queues DuckDB's conversion of a closed segment into its own scratch folder. */
  convert(segment: SpoolSegment, partition: number): Promise<ConvertedSegment> {
    const scratch = join(this.paths.tmp, basename(segment.path, '.csv'));
    this.queued++;
    const run = this.queue
      .then(async () => {
        rmSync(scratch, { recursive: true, force: true });
        mkdirSync(this.paths.tmp, { recursive: true });
        try {
          await this.defineErased();
          await this.conn.run(COPY_SQL, { spool: segment.path, dir: scratch, ...spoolReadLimits(segment.longestLine) });
        } catch (err) {
          throw new DependencyError('LAKE_WRITE_FAILED', `could not write ${segment.rows} events of partition ${partition} to Parquet: ${(err as Error).message}`, err);
        }
        return { scratch, files: listWritten(scratch) };
      })
      .finally(() => this.queued--);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Converts what a spool still holds and places it all; the files are in the lake (durably) when this resolves. */
  async writePartition(spool: PartitionSpool): Promise<RolledPartition> {
    const segments = spool.seal();
    for (const s of segments) s.converted ??= this.convert(s, spool.partition);
    const converted = await Promise.all(segments.map((s) => s.converted!));
    return this.place({ partition: spool.partition, first: spool.first!, last: spool.last!, rows: spool.rows, maxTimestamp: spool.maxTimestamp }, converted);
  }

  /**
   * Marker (durable) → every file fsynced → renamed → each touched folder fsynced once. Names
   * carry the partition and the roll's offset range; a second file for the same hour (from a
   * later segment) gets `~1`, `~2`…
   */
  async place(range: PartitionRange, segments: ConvertedSegment[]): Promise<RolledPartition> {
    const base = lakeFileName({ topic: this.topic, partition: range.partition, first: range.first, last: range.last });
    const seen = new Map<string, number>();
    const moves = segments.flatMap((s) =>
      s.files.map((w) => {
        const key = `${w.day}/${w.hour}`;
        const n = seen.get(key) ?? 0;
        seen.set(key, n + 1);
        const name = n === 0 ? base : base.replace(/\.parquet$/, `~${n}.parquet`);
        return { from: w.path, to: join(this.paths.events, `dt=${w.day}`, `hour=${w.hour}`, name) };
      }),
    );
    await this.markers.write({ topic: this.topic, partition: range.partition, first: range.first.toString(), last: range.last.toString(), files: moves.map((m) => m.to) });
    const sizes = await Promise.all(
      moves.map(async (m) => {
        await fsyncPath(m.from);
        return (await stat(m.from)).size;
      }),
    );
    const hours = new Set(moves.map((m) => dirname(m.to)));
    await Promise.all([...hours].map((h) => mkdir(h, { recursive: true })));
    await Promise.all(moves.map((m) => rename(m.from, m.to)));
    // New hour and dt= folders must survive a crash too.
    const days = new Set([...hours].map((h) => dirname(h)));
    await Promise.all([...hours, ...days].map((d) => fsyncPath(d)));
    await fsyncPath(this.paths.events);
    await Promise.all(segments.map((s) => rm(s.scratch, { recursive: true, force: true })));
    return { ...range, files: moves.map((m) => relative(this.paths.root, m.to)), bytes: sizes.reduce((a, b) => a + b, 0) };
  }
}
