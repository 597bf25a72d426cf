/**
 * Turns the spools of one roll into lake files: DuckDB reads each spool and writes zstd Parquet
 * partitioned by dt/hour into a scratch folder; then, per partition, a marker naming the final
 * files is made durable, each file is fsynced and renamed into its hour folder, and the folders
 * are fsynced. The caller commits offsets afterwards and then removes the markers.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DependencyError } from '../core/errors.ts';
import { fsyncDir, renameDurable } from './durable-fs.ts';
import { lakeFileName, type LakePaths } from './lake.layout.ts';
import { LAKE_PARQUET_OPTIONS, SPOOL_READ_OPTIONS_SQL, SPOOL_TO_LAKE_SQL } from './lake.schema.ts';
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

const COPY_SQL = `COPY (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_csv($spool, ${SPOOL_READ_OPTIONS_SQL}))
  TO $dir (${LAKE_PARQUET_OPTIONS}, PARTITION_BY (dt, hour))`;

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
    this.markers.write({ topic: this.topic, partition: spool.partition, first: first.toString(), last: last.toString(), files: moves.map((m) => m.to) });
    let bytes = 0;
    for (const m of moves) {
      bytes += statSync(m.from).size;
      renameDurable(m.from, m.to);
    }
    // New dt= folders must survive a crash too.
    for (const day of new Set(written.map((w) => w.day))) fsyncDir(join(this.paths.events, `dt=${day}`));
    fsyncDir(this.paths.events);
    rmSync(scratch, { recursive: true, force: true });
    return { partition: spool.partition, first, last, rows: spool.rows, files: moves.map((m) => relative(this.paths.root, m.to)), bytes };
  }
}
