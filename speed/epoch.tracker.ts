/**
 * The speed consumer's side of the epochs (speed/epoch.store.ts): which epoch it writes each site
 * in, noticing a lost one (at a write, or every `checkMs` without traffic), beginning the next and
 * starting the rebuild of what was lost (speed/epoch.rebuild.ts; the sites lost together in one).
 */
import type { Logger } from '../core/logger.ts';
import { errorMessage } from '../core/errors.ts';
import type { Metrics } from '../core/metrics.ts';
import type { EpochStore, SpeedEpoch } from './epoch.store.ts';
import { EpochRebuild, type EpochRebuildDeps } from './epoch.rebuild.ts';
import { MINUTE_MS } from './redis.keys.ts';

export interface EpochTrackerDeps {
  store: EpochStore;
  /** What every rebuild gets (lease owner, Kafka, decoder, writer...), but the store. */
  rebuild: Omit<EpochRebuildDeps, 'epochs' | 'onDone'>;
  logger: Logger;
  metrics: Metrics;
  checkMs: number;
  clock: () => number;
}

export class EpochTracker {
  private readonly epochs = new Map<string, SpeedEpoch>();
  /** Nothing can have been lost yet: the consumer group reads its topic from the beginning. */
  private fresh = false;
  /** The group was moved back to this time: epochs made meanwhile cover from it. */
  private replayFrom: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly rebuilds = new Set<EpochRebuild>();
  /** Epochs a rebuild of this instance is working on. */
  private readonly rebuilding = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly m;

  constructor(private readonly deps: EpochTrackerDeps) {
    const { metrics } = deps;
    this.m = {
      lost: metrics.counter('speed_epochs_lost_total', 'Sites whose speed data was found lost (their epoch gone: a flushed or restarted Redis)'),
      rebuilt: metrics.counter('speed_epoch_rebuilds_total', 'Epoch rebuilds this instance finished'),
      rebuiltEvents: metrics.counter('speed_epoch_rebuild_events_total', 'Events epoch rebuilds applied'),
    };
  }

  /** `fresh`: the consumer group had committed nothing (it reads everything: nothing lost yet). */
  start(fresh: boolean): void {
    this.fresh = fresh;
    this.stopping = false;
    this.timer = setInterval(() => void this.check(), this.deps.checkMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.rebuilds].map((r) => r.stop()));
    this.rebuilds.clear();
    this.rebuilding.clear();
  }

  /** See SpeedConsumer.replayingFrom. */
  replayingFrom(from: number): void {
    this.replayFrom = from;
  }

  /** The epoch this instance writes the site in (undefined: not learnt yet). */
  get(site: string): SpeedEpoch | undefined {
    return this.epochs.get(site);
  }

  /**
   * Learns the epochs of `sites`: a site without one gets one, whose split is the next minute (what
   * came before is rebuilt from Kafka) unless nothing can have been lost (a fresh group, a replay).
   * A known epoch gone or replaced means the site's data was lost: counted, logged, rebuilt. One
   * call at a time: batches handled together meet a new site together, and a read taken before
   * another call made the epoch must not pass for its loss.
   */
  learn(sites: readonly string[]): Promise<void> {
    if (sites.length === 0) return Promise.resolve();
    const next = this.queue.then(() => this.learnNow(sites));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async learnNow(sites: readonly string[]): Promise<void> {
    const found = await this.deps.store.read(sites);
    const unfinished: { site: string; epoch: SpeedEpoch }[] = [];
    for (const site of sites) {
      const known = this.epochs.get(site);
      let epoch = found.get(site) ?? null;
      const lost = known !== undefined && epoch?.id !== known.id;
      if (lost) {
        this.fresh = false;
        this.m.lost.inc();
        this.deps.logger.warn({ event: 'speed_epoch_lost', site, previous: known.id, current: epoch?.id ?? null, hint: 'the speed data of the site was lost (Redis flushed or restarted); its buckets are missing until the rebuild from W is done' });
      }
      if (!epoch) {
        const whole = lost ? undefined : (this.replayFrom ?? (this.fresh ? 0 : undefined));
        epoch = (await this.deps.store.ensure(site, whole ?? Math.ceil(this.deps.clock() / MINUTE_MS) * MINUTE_MS, whole !== undefined)).epoch;
      }
      this.epochs.set(site, epoch);
      if (!epoch.done) unfinished.push({ site, epoch });
    }
    this.startRebuild(unfinished);
  }

  /** The sites' epochs again (a flush is seen without traffic), and lapsed rebuilds taken over. */
  private async check(): Promise<void> {
    try {
      await this.learn([...this.epochs.keys()]);
    } catch (err) {
      this.deps.logger.warn({ event: 'speed_epoch_check_failed', err: errorMessage(err) });
    }
  }

  private startRebuild(unfinished: { site: string; epoch: SpeedEpoch }[]): void {
    const todo = unfinished.filter(({ epoch }) => !this.rebuilding.has(epoch.id));
    if (this.stopping || todo.length === 0) return;
    const rebuild = new EpochRebuild(
      {
        ...this.deps.rebuild,
        epochs: this.deps.store,
        onDone: (_site, events) => {
          this.m.rebuilt.inc();
          this.m.rebuiltEvents.inc(events);
        },
      },
      todo,
    );
    this.rebuilds.add(rebuild);
    for (const { epoch } of todo) this.rebuilding.add(epoch.id);
    void rebuild.run().finally(() => {
      this.rebuilds.delete(rebuild);
      for (const { epoch } of todo) this.rebuilding.delete(epoch.id);
    });
  }
}
