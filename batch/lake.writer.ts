/**
 * Turns the spools of one roll into lake files: DuckDB reads each spool and writes zstd Parquet
 * partitioned by dt/hour into a scratch folder; then, per partition, a marker naming the final
 * files is made durable, each file is fsynced and renamed into its hour folder, and the folders
 * are fsynced. The caller commits offsets afterwards and then removes the markers.
 *
 * The file-system steps are async: they overlap the next partition's conversion and the
 * consumer's decoding instead of blocking the event loop.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DependencyError } from '../core/errors.ts';
import { fsyncPath } from './durable-fs.ts';
import { lakeFileName, type LakePaths } from './lake.layout.ts';
import { ARCHIVER_PARQUET_OPTIONS, SPOOL_READ_OPTIONS_SQL, SPOOL_TO_LAKE_SQL } from './lake.schema.ts';
import type { InflightMarkers } from './lake-recovery.ts';
import type { PartitionSpool } from './partition.spool.ts';

export interface RolledPartition {
  partition: number;
  first: bigint;
  last: bigint;
  rows: number;
  files: string[];
  bytes: number;
}

/** A partition's Parquet files in scratch, with the final paths they get. */
export interface ConvertedPartition {
  partition: number;
  first: bigint;
  last: bigint;
  rows: number;
  scratch: string;
  moves: { from: string; to: string }[];
}

const COPY_SQL = `COPY (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_csv($spool, ${SPOOL_READ_OPTIONS_SQL}))
  TO $dir (${ARCHIVER_PARQUET_OPTIONS}, PARTITION_BY (dt, hour))`;

/** Files DuckDB wrote under `dir` (dt=…/hour=…/data_N.parquet). */
function listWritten(dir: string): { day: string; hour: string; path: string }[] {
  const out: { day: string; hour: string; path: string }[] = [];
  for (const d of readdirSync(dir)) {
    if (!d.startsWith('dt=')) continue;
    for (const h of readdirSync(join(dir, d))) {
      if (!h.startsWith('hour=')) continue;
      for (const f of readdirSync(join(dir, d, h)).sort()) if (f.endsWith('.parquet')) out.push({ day: d.slice(3), hour: h.slice(5), path: join(dir, d, h, f) });
    }
  }
  return out;
}

export class LakeWriter {
  constructor(
    private readonly conn: DuckDBConnection,
    private readonly paths: LakePaths,
    private readonly topic: string,
    private readonly markers: InflightMarkers,
  ) {}

  /** Writes one partition's spool; the files are in the lake (durably) when this resolves. */
  async writePartition(spool: PartitionSpool, rollId: string): Promise<RolledPartition> {
    return this.place(await this.convert(spool, rollId));
  }

  /** DuckDB writes the spool as Parquet into scratch; nothing is in the lake yet. */
  async convert(spool: PartitionSpool, rollId: string): Promise<ConvertedPartition> {
    const first = spool.first!;
    const last = spool.last!;
    const scratch = join(this.paths.tmp, `${rollId}-p${spool.partition}`);
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(this.paths.tmp, { recursive: true });
    try {
      if (spool.rows > 0) await this.conn.run(COPY_SQL, { spool: spool.path, dir: scratch });
    } catch (err) {
      throw new DependencyError('LAKE_WRITE_FAILED', `could not write partition ${spool.partition} offsets ${first}-${last} to Parquet: ${(err as Error).message}`, err);
    }
    const written = spool.rows > 0 ? listWritten(scratch) : [];
    const base = lakeFileName({ topic: this.topic, partition: spool.partition, first, last });
    const seen = new Map<string, number>();
    const moves = written.map((w) => {
      const key = `${w.day}/${w.hour}`;
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      const name = n === 0 ? base : base.replace(/\.parquet$/, `~${n}.parquet`);
      return { from: w.path, to: join(this.paths.events, `dt=${w.day}`, `hour=${w.hour}`, name) };
    });
    return { partition: spool.partition, first, last, rows: spool.rows, scratch, moves };
  }

  /**
   * Marker (durable) → every file fsynced → renamed → each touched folder fsynced once. The
   * files are in the lake, durably, when this resolves.
   */
  async place(c: ConvertedPartition): Promise<RolledPartition> {
    const { moves } = c;
    await this.markers.write({ topic: this.topic, partition: c.partition, first: c.first.toString(), last: c.last.toString(), files: moves.map((m) => m.to) });
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
    await rm(c.scratch, { recursive: true, force: true });
    return { partition: c.partition, first: c.first, last: c.last, rows: c.rows, files: moves.map((m) => relative(this.paths.root, m.to)), bytes: sizes.reduce((a, b) => a + b, 0) };
  }
}
