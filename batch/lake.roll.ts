/**
 * The lake archiver's roll: sealed spools → Parquet (DuckDB, on its own threads) → each
 * partition's files fsynced and renamed into the lake behind an in-flight marker (lake.writer.ts)
 * → offsets committed and confirmed → markers removed. Contract 4: an offset moves only after
 * its range is durably in the lake.
 *
 * One roll is written in the background while the next spools fill; the next roll waits for it
 * (`waitForPrevious`), which is the archiver's backpressure. A roll that cannot place its files
 * is reported through `onFailed` and the archiver stops: a later commit must never skip a range
 * that is not in the lake. A commit that fails after the files are in place only logs; the
 * markers stay, so the next owner of those partitions judges the files.
 *
 * Placing and committing each happen under the partitions' leases (lake.lease.ts): a partition
 * another archiver took over meanwhile is dropped from the roll (its scratch files deleted, nothing
 * renamed or committed), since its new owner reads the range again from the committed offset.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { errorMessage, TwinlaneError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { InflightMarkers } from './lake-recovery.ts';
import type { PartitionLeases } from './lake.lease.ts';
import type { LakeWriter, PartitionRange, RolledPartition } from './lake.writer.ts';
import type { ConvertedSegment, PartitionSpool, SpoolSegment } from './partition.spool.ts';

export type RollTrigger = 'size' | 'age' | 'stop';

export class CommitNotConfirmedError extends TwinlaneError {
  constructor(partition: number, offset: string) {
    super('LAKE_COMMIT_UNCONFIRMED', `offset ${offset} of partition ${partition} was not confirmed by the group coordinator`, { retriable: true });
  }
}

/** The archiver's metrics a roll updates (the archiver defines them all, in one place). */
export interface RollMetrics {
  events: Counter<string>;
  files: Counter<string>;
  bytes: Counter<string>;
  rolls: Counter<'trigger'>;
  rollSeconds: Histogram<string>;
  blocked: Counter<string>;
  committed: Gauge<'partition'>;
  fenced: Counter<string>;
}

export interface CommitOffset {
  topic: string;
  partition: number;
  offset: string;
}

export interface LakeRollDeps {
  writer: LakeWriter;
  markers: InflightMarkers;
  /** This archiver's partition leases: only partitions it still holds are placed and committed. */
  leases: PartitionLeases;
  topic: string;
  /** Commits offsets of the archiver's group (kafkajs' consumer.commitOffsets). */
  commit: (offsets: CommitOffset[]) => Promise<void>;
  /** Told of the ranges whose commit the coordinator confirmed. */
  committed?: (done: RolledPartition[]) => void;
  /**
   * Offsets the group coordinator confirmed per partition (kafkajs' COMMIT_OFFSETS event): a
   * commit that returned is trusted only once its offset shows up here.
   */
  confirmed: ReadonlyMap<number, bigint>;
  logger: Logger;
  metrics: RollMetrics;
  /** Called when a roll failed: nothing may be committed past it. */
  onFailed: (err: unknown) => void;
}

type Sealed = { spool: PartitionSpool; segments: SpoolSegment[] };

export class LakeRoll {
  private inflight: Promise<void> = Promise.resolve();

  constructor(private readonly deps: LakeRollDeps) {}

  /** Resolves when the roll in flight (if any) has ended; it never rejects (failures go to onFailed). */
  settled(): Promise<void> {
    return this.inflight;
  }

  /** Waits for the previous roll, counting the time consumption was blocked by it. */
  async waitForPrevious(): Promise<void> {
    const waitStart = performance.now();
    await this.inflight;
    this.deps.metrics.blocked.inc((performance.now() - waitStart) / 1000);
  }

  /** Starts writing `spools` in the background; call after waitForPrevious(). */
  begin(spools: PartitionSpool[], trigger: RollTrigger): void {
    const { writer } = this.deps;
    // Every segment not converted yet is queued now, so DuckDB never waits for the event loop.
    const sealed = spools.map((s) => {
      const segments = s.seal();
      for (const g of segments) {
        g.converted ??= writer.convert(g, s.partition);
        g.converted.catch(() => undefined); // awaited by write, which may stop at an earlier failure
      }
      return { spool: s, segments };
    });
    const rollId = `${Date.now()}-${randomUUID().slice(0, 8)}`;
    this.inflight = this.write(sealed, rollId, trigger).catch((err: unknown) => {
      // A range that is not in the lake must never be skipped by a later commit: stop here.
      this.deps.logger.error({ event: 'lake_roll_failed', err, roll: rollId }, 'roll failed; the archiver stops without committing past it');
      this.deps.onFailed(err);
    });
  }

  private async write(sealed: Sealed[], rollId: string, trigger: RollTrigger): Promise<void> {
    const m = this.deps.metrics;
    const end = m.rollSeconds.startTimer();
    let done: RolledPartition[];
    try {
      done = await this.placeAll(sealed);
    } catch (err) {
      for (const { spool } of sealed) spool.discard();
      throw err;
    }
    try {
      await this.commit(done);
    } catch (err) {
      // Kept markers let the next owner of these partitions judge the files (rebalance, stop).
      this.deps.logger.warn({ event: 'lake_commit_failed', err: errorMessage(err), roll: rollId }, 'files are in place but offsets were not committed; the markers stay');
    } finally {
      for (const { spool } of sealed) spool.discard();
    }
    for (const d of done) {
      m.events.inc(d.rows);
      m.files.inc(d.files.length);
      m.bytes.inc(d.bytes);
    }
    m.rolls.inc({ trigger });
    end();
    this.deps.logger.info({ event: 'lake_rolled', roll: rollId, trigger, partitions: done.map((d) => ({ p: d.partition, first: d.first.toString(), last: d.last.toString(), rows: d.rows, files: d.files.length })) });
  }

  /**
   * Commits the placed ranges whose leases are still this archiver's, then drops their markers once
   * the coordinator confirmed them. A range whose lease moved after placing is left to its new
   * owner, who found its marker uncommitted and deleted its files.
   */
  private async commit(placed: RolledPartition[]): Promise<void> {
    const { topic, confirmed, markers, metrics, leases } = this.deps;
    const done = await leases.whileHeld(
      placed.map((d) => d.partition),
      async (held) => {
        const mine = placed.filter((d) => held.includes(d.partition));
        this.fenced(placed.filter((d) => !held.includes(d.partition)), 'commit');
        if (mine.length > 0) await this.deps.commit(mine.map((d) => ({ topic, partition: d.partition, offset: (d.last + 1n).toString() })));
        return mine;
      },
    );
    const offsets = done.map((d) => ({ topic, partition: d.partition, offset: (d.last + 1n).toString() }));
    for (const o of offsets) if ((confirmed.get(o.partition) ?? -1n) < BigInt(o.offset)) throw new CommitNotConfirmedError(o.partition, o.offset);
    for (const d of done) markers.remove({ partition: d.partition, first: d.first.toString(), last: d.last.toString() });
    for (const o of offsets) metrics.committed.set({ partition: String(o.partition) }, Number(o.offset));
    if (done.length > 0) this.deps.committed?.(done);
  }

  private fenced(ranges: PartitionRange[], step: 'place' | 'commit'): void {
    if (ranges.length === 0) return;
    this.deps.metrics.fenced.inc(ranges.length);
    const lost = ranges.map((r) => ({ p: r.partition, first: r.first.toString(), last: r.last.toString() }));
    this.deps.logger.warn({ event: 'lake_roll_fenced', step, ranges: lost }, 'another archiver took these partitions over: their ranges are left to it');
  }

  /** A partition's files are placed as soon as its segments are converted, while DuckDB goes on with the next. */
  private async placeAll(sealed: Sealed[]): Promise<RolledPartition[]> {
    const placing: Promise<RolledPartition | undefined>[] = [];
    try {
      for (const { spool: s, segments } of sealed) {
        const converted = await Promise.all(segments.map((g) => g.converted!));
        placing.push(this.place({ partition: s.partition, first: s.first!, last: s.last!, rows: s.rows, maxTimestamp: s.maxTimestamp }, converted));
      }
    } finally {
      await Promise.allSettled(placing); // nothing of this roll is still touching files when it fails
    }
    return (await Promise.all(placing)).filter((d) => d !== undefined);
  }

  /** Places one partition's files while its lease is held; undefined (scratch deleted) when it moved. */
  private place(range: PartitionRange, converted: ConvertedSegment[]): Promise<RolledPartition | undefined> {
    return this.deps.leases.whileHeld([range.partition], async (held) => {
      if (held.length > 0) return this.deps.writer.place(range, converted);
      this.fenced([range], 'place');
      await Promise.all(converted.map((c) => rm(c.scratch, { recursive: true, force: true })));
      return undefined;
    });
  }
}
