/**
 * Erasure in the lake: finds the files holding rows of an erased visitor (or site) and rewrites
 * each without them. A file is rewritten under a scratch name and renamed over the original (one
 * atomic step per file; a file left with no rows is deleted), so a reader sees the old file or the
 * new one, and a crash leaves files that a second pass finds again: erasing is idempotent, and a
 * row is removed exactly once. The rewrite lock keeps compaction from merging an hour meanwhile.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { fsyncDir, renameDurable } from '../core/durable-fs.ts';
import { num, openDuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import { ERASED_MACRO } from '../core/erasure.list.ts';
import { lakeDay, lakeDays } from './batch.job.ts';
import { resolveCompactions } from './compaction.job.ts';
import { lakePaths } from './lake.layout.ts';
import { lockLakeRewrites } from './lake.lock.ts';
import { LAKE_PARQUET_OPTIONS } from './lake.schema.ts';

/** Every Parquet file of the lake's events, sorted. */
export function lakeFiles(dataDir: string): string[] {
  return lakeDays(dataDir).flatMap((day) => lakeDay(dataDir, day).files);
}

export interface LakeEraseOptions {
  dataDir: string;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** ErasureList.macroSql() of the erasure (defines `tl_erased(site, visitor)`). */
  macroSql: string;
  /** Count only: nothing is rewritten. */
  dryRun?: boolean;
  onProgress?: (done: number, total: number, phase: 'scan' | 'rewrite') => void;
}

export interface LakeEraseResult {
  /** Files holding the erased rows (rewritten, or deleted when nothing else was in them). */
  files: number;
  deletedFiles: number;
  rows: number;
  /** Days whose files changed, sorted (their views must be recomputed). */
  days: string[];
}

const SCAN_CHUNK = 256;
const MATCH = `${ERASED_MACRO}(CAST(site_id AS VARCHAR), CAST(visitor_id AS VARCHAR))`;

export async function eraseFromLake(o: LakeEraseOptions): Promise<LakeEraseResult> {
  const release = o.dryRun ? () => undefined : lockLakeRewrites(o.dataDir);
  const paths = lakePaths(o.dataDir);
  const db = await openDuckDB({ ...o.duckdb, tempDir: join(paths.root, '_duckdb_tmp') });
  try {
    if (!o.dryRun) resolveCompactions(o.dataDir);
    await db.conn.run(o.macroSql);
    const files = lakeFiles(o.dataDir);
    const hits = new Map<string, number>();
    // Only two columns are read, and a site's rows are hashed only where the site matches.
    for (let i = 0; i < files.length; i += SCAN_CHUNK) {
      o.onProgress?.(i, files.length, 'scan');
      const chunk = files.slice(i, i + SCAN_CHUNK);
      const r = await db.conn.runAndReadAll(
        `SELECT filename AS file, count(*) AS n FROM read_parquet($files, union_by_name = true, hive_partitioning = false, filename = true) WHERE ${MATCH} GROUP BY filename`,
        { files: listValue(chunk) },
      );
      for (const row of r.getRowObjectsJS()) hits.set(String(row.file), num(row.n));
    }
    o.onProgress?.(files.length, files.length, 'scan');
    const affected = [...hits.keys()].sort();
    const rows = [...hits.values()].reduce((a, b) => a + b, 0);
    const days = [...new Set(affected.map((f) => /dt=(\d{4}-\d{2}-\d{2})/.exec(f)?.[1]).filter((d): d is string => d !== undefined))].sort();
    let deletedFiles = 0;
    if (!o.dryRun) {
      mkdirSync(paths.tmp, { recursive: true });
      for (const [i, file] of affected.entries()) {
        o.onProgress?.(i, affected.length, 'rewrite');
        const tmp = join(paths.tmp, `erase-${process.pid}-${i}.parquet`);
        const r = await db.conn.runAndReadAll(`COPY (SELECT * FROM read_parquet($file, hive_partitioning = false) WHERE NOT ${MATCH}) TO $out (${LAKE_PARQUET_OPTIONS}, RETURN_STATS)`, { file, out: tmp });
        const kept = r.getRowObjectsJS().reduce((n, row) => n + num(row.count), 0);
        if (kept === 0) {
          rmSync(tmp, { force: true });
          rmSync(file, { force: true });
          fsyncDir(join(file, '..'));
          deletedFiles++;
        } else renameDurable(tmp, file);
      }
      o.onProgress?.(affected.length, affected.length, 'rewrite');
    }
    return { files: affected.length, deletedFiles, rows, days };
  } finally {
    db.close();
    release();
  }
}
