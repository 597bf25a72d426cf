/**
 * How far the lake archiver got, per partition: `lake/_progress/<topic>/p<N>.json` holds the next
 * offset it committed and the newest Kafka record timestamp (the collector's produce time, about
 * the received time) among the records it archived. Written after each commit the coordinator
 * confirmed, so it never claims more than the lake holds. The batch job reads it to publish only
 * days whose end the lake covers (lake.coverage.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { lakePaths } from './lake.layout.ts';

export interface PartitionProgress {
  partition: number;
  /** The next offset of the partition the archiver will read (its committed offset). */
  offset: string;
  /** Newest record timestamp (epoch ms) archived so far; records are archived in partition order. */
  archivedThrough: number;
  /** When this was written (epoch ms). */
  at: number;
}

export function progressDir(dataDir: string, topic: string): string {
  return join(lakePaths(dataDir).root, '_progress', topic);
}

/** Records the partitions' progress; `archivedThrough` never goes back (a redelivered range carries older times). */
export function writeProgress(dataDir: string, topic: string, rows: readonly Omit<PartitionProgress, 'at'>[], now = Date.now()): void {
  const dir = progressDir(dataDir, topic);
  mkdirSync(dir, { recursive: true });
  const known = readProgress(dataDir, topic);
  for (const r of rows) {
    const before = known.get(r.partition);
    const row: PartitionProgress = { ...r, archivedThrough: Math.max(r.archivedThrough, before?.archivedThrough ?? -Infinity), at: now };
    writeFileAtomic(join(dir, `p${r.partition}.json`), JSON.stringify(row));
  }
}

export function readProgress(dataDir: string, topic: string): Map<number, PartitionProgress> {
  const dir = progressDir(dataDir, topic);
  const out = new Map<number, PartitionProgress>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!/^p\d+\.json$/.test(f)) continue;
    try {
      const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as PartitionProgress;
      out.set(p.partition, p);
    } catch {
      // A torn file cannot happen (atomic writes); anything else unreadable counts as no progress.
    }
  }
  return out;
}
