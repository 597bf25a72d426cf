/**
 * Folds the partition batches that kafkajs hands over together (one fetch, up to
 * `partitionsConcurrently` partitions) into one rollup per site before they reach Redis. Per
 * partition a site's minute holds few events; across partitions its counter fields and top-k
 * members repeat, so one call per site and round writes about half the counter and top-k
 * updates of one call per site and partition (measured on generated traffic: 0.86 → 0.47 counter
 * fields, 0.42 → 0.18 top-k members per event).
 *
 * kafkajs starts every batch handler of a fetch before any of them reaches its first await, so a
 * handler takes a seat (`enter()`) first thing and the round is written once every seat has
 * submitted or been released without anything to write. Sites whose records moved under a round
 * (another instance, a replay) come back to their handlers as conflicts, to be applied alone.
 */
import type { BatchPosition } from './types.ts';
import { offsetField } from './redis.keys.ts';
import type { SiteRollupBuilder } from './rollup.aggregator.ts';
import type { ApplyItem, RollupWriter } from './rollup.writer.ts';

/** One partition batch's share of a round: its verified builders and the records they assume. */
export interface PartitionRollups {
  pos: BatchPosition;
  builders: ReadonlyMap<string, SiteRollupBuilder>;
  /** Offset record per site this batch was folded against (null: none). */
  expected: ReadonlyMap<string, string | null>;
  /** The epoch per site the batch was folded in (speed/epoch.store.ts); a site without one is not checked. */
  epochs?: ReadonlyMap<string, string>;
}

/** Sites of the submission not applied, with the current record of its partition. */
export type Conflicts = Map<string, string | null>;

interface Pending {
  work: PartitionRollups;
  resolve: (c: Conflicts) => void;
  reject: (err: unknown) => void;
}

/** A site of a round: the submissions that hold new events of it, folded into the first one's builder. */
interface SiteEntry {
  at: Pending[];
  item: ApplyItem;
  base: SiteRollupBuilder;
}

/** A handler's place in the coming round: it submits once, or is released (a no-op after submit). */
export interface RoundSeat {
  /** Writes `work` with the others of its round; resolves with the sites that must be applied alone. */
  submit(work: PartitionRollups): Promise<Conflicts>;
  release(): void;
}

export interface CoalescerOptions {
  /**
   * A round is written once this many batches are in, without waiting for the rest: Redis then
   * applies it while the remaining batches of the fetch are decoded (kafkajs fetches, processes
   * and fetches again, so nothing else overlaps the two).
   */
  maxPerRound?: number;
  /** Called with the partition batches of each written round (metrics). */
  onRound?: (partitions: number) => void;
}

export class ApplyCoalescer {
  private active = 0;
  private pending: Pending[] = [];

  constructor(
    private readonly writer: RollupWriter,
    private readonly options: CoalescerOptions = {},
  ) {}

  enter(): RoundSeat {
    this.active++;
    let seated = true;
    const leave = (): void => {
      seated = false;
      this.active--;
    };
    return {
      submit: (work) => {
        if (!seated) throw new Error('a round seat submits once');
        leave();
        const done = new Promise<Conflicts>((resolve, reject) => this.pending.push({ work, resolve, reject }));
        this.flushIfComplete();
        return done;
      },
      release: () => {
        if (!seated) return;
        leave();
        this.flushIfComplete();
      },
    };
  }

  private flushIfComplete(): void {
    if (this.pending.length === 0 || (this.active > 0 && this.pending.length < (this.options.maxPerRound ?? Infinity))) return;
    const round = this.pending;
    this.pending = [];
    void this.write(round);
  }

  private async write(round: Pending[]): Promise<void> {
    this.options.onRound?.(round.length);
    const bySite = new Map<string, SiteEntry>();
    for (const p of round) {
      const field = offsetField(p.work.pos.topic, p.work.pos.partition);
      for (const [site, b] of p.work.builders) {
        if (b.maxOffset === null) continue;
        const offset = { field, expected: p.work.expected.get(site) ?? null, next: b.maxOffset };
        const entry = bySite.get(site);
        if (!entry) {
          const epoch = p.work.epochs?.get(site);
          bySite.set(site, { at: [p], item: { rollup: undefined as never, offsets: [offset], ...(epoch ? { epoch } : {}) }, base: b });
          continue;
        }
        entry.base.absorb(b);
        entry.at.push(p);
        entry.item.offsets.push(offset);
      }
    }
    const conflicts = new Map<Pending, Conflicts>(round.map((p) => [p, new Map()]));
    const entries: SiteEntry[] = [];
    for (const [site, e] of bySite) {
      // Copies of one event in two partitions of the round (a client's retry that took another
      // partition) would both count in the merged rollup: the site goes back to its batches to be
      // applied alone, where the apply script finds the first copy's id when the second comes.
      if (e.base.copiesAbsorbed > 0) e.at.forEach((p, j) => conflicts.get(p)!.set(site, e.item.offsets[j]!.expected));
      else entries.push(e);
    }
    for (const e of entries) e.item.rollup = e.base.result()!;
    try {
      const results = await this.writer.applyMany(entries.map((e) => e.item));
      results.forEach((r, i) => {
        if (r.applied) return;
        const e = entries[i]!;
        e.at.forEach((p, j) => conflicts.get(p)!.set(e.item.rollup.site, r.current[j] ?? null));
      });
    } catch (err) {
      for (const p of round) p.reject(err);
      return;
    }
    for (const p of round) p.resolve(conflicts.get(p)!);
  }
}
