/**
 * When live tracking of a site began: its earliest event in lake files the archiver wrote (any
 * file but an import's; compaction never merges import files, batch/lake.layout.ts). An import
 * stops there unless told `--overlap`, so a visit Umami and Twinlane both saw counts once.
 *
 * The lake is scanned day by day, two columns of its live files; what was found is remembered in
 * `DATA_DIR/imports/live-start.json` with the last complete day scanned, so the next import only
 * scans the days after it. (A live event arriving days late for a day already scanned is not
 * looked at again: the live start may then be a little later than that event.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { openDuckDB, type DuckDBOptions } from '../core/duckdb.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { formatDay, isImportFile, lakeDay, lakeDays, lakePaths, parseDay } from '../batch/index.ts';
import { importsDir } from './import.state.ts';

interface LiveStartFile {
  v: 1;
  /** Days up to this one (included) were scanned and are over. */
  scannedThrough: string | null;
  sites: Record<string, number>;
}

function registryPath(dataDir: string): string {
  return join(importsDir(dataDir), 'live-start.json');
}

function readRegistry(dataDir: string): LiveStartFile {
  const path = registryPath(dataDir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as LiveStartFile) : { v: 1, scannedThrough: null, sites: {} };
}

/** The earliest live event time of every site the lake has live files of (epoch ms). */
export async function liveStarts(dataDir: string, duckdb: Omit<DuckDBOptions, 'tempDir'>, now = Date.now()): Promise<Record<string, number>> {
  const reg = readRegistry(dataDir);
  const today = formatDay(now);
  const days = lakeDays(dataDir).filter((d) => reg.scannedThrough === null || d > reg.scannedThrough);
  const found = { ...reg.sites };
  let scanned = reg.scannedThrough;
  let db: Awaited<ReturnType<typeof openDuckDB>> | undefined;
  try {
    for (const day of days) {
      const files = lakeDay(dataDir, day).files.filter((f) => !isImportFile(f));
      if (files.length > 0) {
        db ??= await openDuckDB({ ...duckdb, tempDir: join(lakePaths(dataDir).root, '_duckdb_tmp') });
        const r = await db.conn.runAndReadAll(
          `SELECT CAST(site_id AS VARCHAR) AS site, CAST(epoch_ms(min(CAST(event_time AS TIMESTAMP))) AS DOUBLE) AS t FROM read_parquet($files, union_by_name = true, hive_partitioning = false) GROUP BY ALL`,
          { files: listValue(files) },
        );
        for (const row of r.getRowObjectsJS()) {
          const site = String(row.site);
          const t = Number(row.t);
          if (found[site] === undefined || t < found[site]) found[site] = t;
        }
      }
      // Only days that are over stay scanned: today's may still receive its first live events.
      if (parseDay(day) + 86_400_000 <= now && day < today) scanned = day;
    }
  } finally {
    db?.close();
  }
  if (scanned !== reg.scannedThrough || JSON.stringify(found) !== JSON.stringify(reg.sites)) {
    writeFileAtomic(registryPath(dataDir), JSON.stringify({ v: 1, scannedThrough: scanned, sites: found } satisfies LiveStartFile, null, 1));
  }
  return found;
}
