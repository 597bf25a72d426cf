/**
 * Compaction: merges the small files of a closed hour into one without changing its rows.
 * The swap is made atomic by a marker written before the merged file is renamed in: if the
 * merged file exists the inputs are deleted, otherwise the marker is dropped and the inputs stay
 * (`resolveCompactions`, run before every compaction and batch run). Hours with files of a roll
 * that is not committed yet are left alone, so the archiver's recovery never races a merge.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { UsageError } from '../core/errors.ts';
import { fsyncDir, renameDurable, writeFileAtomic } from '../core/durable-fs.ts';
import { openDuckDB, num, type DuckDBOptions } from '../core/duckdb.ts';
import { hourDir, isImportFile, lakePaths, parseDay } from './lake.layout.ts';
import { lockLakeRewrites } from './lake.lock.ts';
import { LAKE_COLUMNS, LAKE_PARQUET_OPTIONS } from './lake.schema.ts';
import type { CompactionResult } from './types.ts';

interface CompactionMarker {
  output: string;
  inputs: string[];
}

function compactionDir(dataDir: string): string {
  return join(lakePaths(dataDir).root, '_compaction');
}

/** Finishes or abandons compactions a crash interrupted. */
export function resolveCompactions(dataDir: string): number {
  const dir = compactionDir(dataDir);
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const m = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CompactionMarker;
    if (existsSync(m.output)) for (const f of m.inputs) rmSync(f, { force: true });
    rmSync(join(dir, name), { force: true });
    n++;
  }
  return n;
}

/** Files listed by in-flight roll markers (not committed yet). */
function inflightFiles(dataDir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.json')) for (const f of (JSON.parse(readFileSync(join(d, e.name), 'utf8')) as { files: string[] }).files) out.add(f);
    }
  };
  walk(lakePaths(dataDir).inflight);
  return out;
}

export interface CompactOptions {
  dataDir: string;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** An hour is closed this long after its end (late rolls have landed). */
  graceMs?: number;
  now?: number;
}

export async function compactHour(o: CompactOptions, day: string, hour: number): Promise<CompactionResult> {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new UsageError('BAD_HOUR', `hour ${hour} is not a whole number from 0 to 23`);
  const hourEnd = parseDay(day) + (hour + 1) * 3_600_000;
  if ((o.now ?? Date.now()) < hourEnd + (o.graceMs ?? 3_600_000)) throw new UsageError('HOUR_NOT_CLOSED', `${day} hour ${hour} is not closed yet; compact it after its grace period`);
  resolveCompactions(o.dataDir);
  const dir = hourDir(lakePaths(o.dataDir).events, day, hour);
  // Imported files stay apart: they tell imported history from live tracking (transfer/live-start.ts).
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.parquet') && !isImportFile(f)).sort().map((f) => join(dir, f)) : [];
  const none: CompactionResult = { day, hour, filesBefore: files.length, filesAfter: files.length, rows: 0 };
  if (files.length < 2) return none;
  const pending = inflightFiles(o.dataDir);
  if (files.some((f) => pending.has(f))) return none;
  const paths = lakePaths(o.dataDir);
  const release = lockLakeRewrites(o.dataDir);
  const db = await openDuckDB({ ...o.duckdb, tempDir: join(paths.root, '_duckdb_tmp') });
  try {
    mkdirSync(paths.tmp, { recursive: true });
    const tmp = join(paths.tmp, `compact-${day}-${hour}-${process.pid}-${Date.now()}.parquet`);
    const output = join(dir, `compacted~${Date.now()}.parquet`);
    const cols = LAKE_COLUMNS.map(([n, t]) => `CAST(${n} AS ${t}) AS ${n}`).join(', ');
    const r = await db.conn.runAndReadAll(
      `COPY (SELECT ${cols} FROM read_parquet($files, union_by_name = true, hive_partitioning = false) ORDER BY event_time, event_id) TO $out (${LAKE_PARQUET_OPTIONS}, RETURN_STATS)`,
      { files: listValue(files), out: tmp },
    );
    const rows = num(r.getRowObjectsJS()[0]?.count);
    const marker = join(compactionDir(o.dataDir), `${day}-${hour}-${Date.now()}.json`);
    writeFileAtomic(marker, JSON.stringify({ output, inputs: files } satisfies CompactionMarker));
    renameDurable(tmp, output);
    for (const f of files) rmSync(f, { force: true });
    fsyncDir(dir);
    rmSync(marker, { force: true });
    return { day, hour, filesBefore: files.length, filesAfter: 1, rows };
  } finally {
    db.close();
    release();
  }
}

/** Compacts every closed hour of a day that has two files or more. */
export async function compactDay(o: CompactOptions, day: string): Promise<CompactionResult[]> {
  const out: CompactionResult[] = [];
  for (let h = 0; h < 24; h++) {
    const hourEnd = parseDay(day) + (h + 1) * 3_600_000;
    if ((o.now ?? Date.now()) < hourEnd + (o.graceMs ?? 3_600_000)) break;
    out.push(await compactHour(o, day, h));
  }
  return out;
}
