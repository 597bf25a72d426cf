/**
 * Up to when the lake holds every record of the events topic (publish only complete days): a
 * partition is covered up to now when the archiver's committed offset reached its high watermark,
 * else up to the newest record time it archived (lake.progress.ts); the lake is covered up to the
 * earliest of its partitions. A day may be published once its end plus the allowed lateness is
 * covered.
 */
import type { PartitionProgress } from './lake.progress.ts';

export interface PartitionCoverage {
  partition: number;
  /** The partition's high watermark (next offset to be written). */
  high: bigint;
  progress?: PartitionProgress;
}

/** Epoch ms up to which every partition is archived (-Infinity: a partition with records was never archived). */
export function coveredThrough(partitions: readonly PartitionCoverage[], now: number): number {
  let covered = now;
  for (const p of partitions) covered = Math.min(covered, partitionCoveredThrough(p, now));
  return covered;
}

export function partitionCoveredThrough(p: PartitionCoverage, now: number): number {
  if (p.high === 0n || (p.progress && BigInt(p.progress.offset) >= p.high)) return now;
  return p.progress?.archivedThrough ?? -Infinity;
}

/** The partitions holding back `until`: each with how far it is archived, for the message naming them. */
export function lagging(partitions: readonly PartitionCoverage[], until: number, now: number): { partition: number; archivedThrough: number; behind: string }[] {
  return partitions
    .filter((p) => partitionCoveredThrough(p, now) < until)
    .map((p) => ({ partition: p.partition, archivedThrough: partitionCoveredThrough(p, now), behind: (p.high - BigInt(p.progress?.offset ?? '0')).toString() }));
}
