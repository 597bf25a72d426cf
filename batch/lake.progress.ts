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
  for (const r of rows) {
    // Only the rolled partitions' own files are read: a roll touches few of them.
    const file = join(dir, `p${r.partition}.json`);
    const before = readOne(file);
    const row: PartitionProgress = { ...r, archivedThrough: Math.max(r.archivedThrough, before?.archivedThrough ?? -Infinity), at: now };
    writeFileAtomic(file, JSON.stringify(row));
  }
}

export function readProgress(dataDir: string, topic: string): Map<number, PartitionProgress> {
  const dir = progressDir(dataDir, topic);
  const out = new Map<number, PartitionProgress>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!/^p\d+\.json$/.test(f)) continue;
    const p = readOne(join(dir, f));
    if (p) out.set(p.partition, p);
  }
  return out;
}

/** One partition's progress; missing or unreadable counts as none (files are written atomically, so never torn). */
function readOne(file: string): PartitionProgress | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PartitionProgress;
  } catch {
    return undefined;
  }
}
