/**
 * Rebuilds what a site lost with its epoch (speed/epoch.store.ts) by itself: the events of
 * [start, split) — start the later of W and retention — are read again from Kafka by a consumer
 * group of the epoch's own and applied through the same script, with offset records of their own
 * (`rb.<epoch>:<topic>:<partition>`), so the speed consumers (applying from split on) and the
 * rebuild never count an event twice, and a rebuild taken over after a crash resumes where the
 * group committed. Once every partition has been read to where it ended when the rebuild started,
 * the epoch is done (coverage starts at `start`); the rebuild then keeps reading for `tailMs` for
 * events of before the split produced late, and leaves.
 *
 * One instance holds the epoch's lease (renewed while it runs); another takes over when it lapses.
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.ts';
import { errorMessage } from '../core/errors.ts';
import type { RollupDecoder, RollupEvent } from './event.decoder.ts';
import type { EpochStore, SpeedEpoch } from './epoch.store.ts';
import { MINUTE_MS } from './redis.keys.ts';
import { rollupSite } from './rollup.aggregator.ts';
import type { RollupWriter } from './rollup.writer.ts';
import type { OffsetEvent } from './types.ts';

/** Kafka timestamps are produce times: late events of `start` were produced a little earlier. */
const SEEK_GRACE_MS = 10 * MINUTE_MS;

export interface EpochRebuildDeps {
  kafka: Kafka;
  topic: string;
  /** The speed consumers' group; the rebuild's is `<group>.rebuild.<epoch id>`. */
  groupId: string;
  decoder: RollupDecoder;
  writer: RollupWriter;
  epochs: EpochStore;
  /** W now (null: no batch yet). */
  watermark: () => number | null;
  ttlMs: number;
  logger: Logger;
  /** This instance, as lease owner. */
  owner: string;
  leaseMs: number;
  /** How long after the split late events are still read (ms). */
  tailMs: number;
  clock?: () => number;
  onDone?: (site: string, events: number, ms: number) => void;
}

export class EpochRebuild {
  private consumer: Consumer | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly deps: EpochRebuildDeps,
    readonly site: string,
    readonly epoch: SpeedEpoch,
  ) {
    this.now = deps.clock ?? Date.now;
  }

  /** Runs the rebuild to its end (or until stop(), a lost lease or a newer epoch). */
  async run(): Promise<void> {
    const { epochs, logger, leaseMs } = this.deps;
    const { site, epoch } = this;
    if (!(await epochs.claim(site, epoch.id, this.deps.owner, leaseMs, this.now()))) return;
    const t0 = this.now();
    const w = this.deps.watermark();
    const retention = Math.ceil((this.now() - this.deps.ttlMs) / MINUTE_MS) * MINUTE_MS;
    const start = Math.max(w ?? -Infinity, retention);
    if (start >= epoch.split) {
      await epochs.finish(site, epoch.id, epoch.split);
      return;
    }
    logger.warn({ event: 'speed_epoch_rebuild_started', site, epoch: epoch.id, from: new Date(start).toISOString(), split: new Date(epoch.split).toISOString() });
    const lease = setInterval(() => {
      void epochs.claim(site, epoch.id, this.deps.owner, leaseMs, this.now()).then(
        (held) => {
          if (!held) void this.stop();
        },
        () => undefined,
      );
    }, Math.max(500, Math.floor(leaseMs / 3)));
    lease.unref();
    try {
      await this.read(start, (applied) => {
        this.deps.onDone?.(site, applied, this.now() - t0);
        logger.info({ event: 'speed_epoch_rebuild_done', site, epoch: epoch.id, events: applied, ms: this.now() - t0, hint: `coverage starts at ${new Date(start).toISOString()} again; late events are still read for ${Math.round(this.deps.tailMs / 1000)} s` });
      });
    } catch (err) {
      logger.error({ event: 'speed_epoch_rebuild_failed', site, epoch: epoch.id, err: errorMessage(err), hint: 'the lease lapses and an instance takes the rebuild over' });
    } finally {
      clearInterval(lease);
      await this.stop();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const c = this.consumer;
    this.consumer = undefined;
    await c?.disconnect().catch(() => undefined);
  }

  /** Reads [start, split) of the site from Kafka; `onCaughtUp` with the events applied when the epoch is done. */
  private async read(start: number, onCaughtUp: (applied: number) => void): Promise<void> {
    const { kafka, topic, decoder, writer, epochs } = this.deps;
    const { site, epoch } = this;
    const group = `${this.deps.groupId}.rebuild.${epoch.id}`;
    const admin = kafka.admin();
    await admin.connect();
    let end: Map<number, number>;
    let from: Map<number, number>;
    try {
      end = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      from = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
      // A fresh group starts at the start's produce time; one taken over resumes where it committed.
      if ([...from.values()].every((o) => o < 0)) {
        const at = await admin.fetchTopicOffsetsByTimestamp(topic, start - SEEK_GRACE_MS);
        const offsets = at.map((p) => ({ partition: p.partition, offset: Number(p.offset) < 0 ? String(end.get(p.partition) ?? 0) : p.offset }));
        await admin.setOffsets({ groupId: group, topic, partitions: offsets });
        from = new Map(offsets.map((p) => [p.partition, Number(p.offset)]));
      }
    } finally {
      await admin.disconnect();
    }
    // Last offset read per partition; one starting at its end has nothing to read.
    const reached = new Map<number, number>([...from].map(([p, o]) => [p, o - 1]));
    const caughtUp = () => [...end].every(([p, high]) => (reached.get(p) ?? -1) >= high - 1);
    const recorded = new Map<number, string | null>();
    let applied = 0;
    let done = false;
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 30_000, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const field = `rb.${epoch.id}:${batch.topic}:${batch.partition}`;
        if (!recorded.has(batch.partition)) recorded.set(batch.partition, await writer.recordedOffset(site, field));
        const list: OffsetEvent[] = [];
        for (const msg of batch.messages) {
          let e: RollupEvent;
          try {
            e = decoder.decodeCached(msg.value) ?? (await decoder.decode(msg.value));
          } catch {
            continue; // the speed consumers dead-letter what does not decode
          }
          if (e.site_id === site && e.event_time >= start && e.event_time < epoch.split) list.push({ offset: msg.offset, event: e });
        }
        for (let attempt = 0; list.length > 0 && attempt < 3; attempt++) {
          const expected = recorded.get(batch.partition) ?? null;
          const rollup = rollupSite(site, list, expected);
          if (!rollup) break;
          const [r] = await writer.applyMany([{ rollup, offsets: [{ field, expected, next: rollup.maxOffset }], epoch: epoch.id }]);
          if (r!.applied) {
            recorded.set(batch.partition, rollup.maxOffset);
            applied += rollup.events;
            break;
          }
          const current = await epochs.read([site]);
          if (current.get(site)?.id !== epoch.id) {
            void this.stop();
            return;
          }
          recorded.set(batch.partition, r!.current[0] ?? null);
        }
        resolveOffset(batch.lastOffset());
        reached.set(batch.partition, Number(batch.lastOffset()));
        await heartbeat();
      },
    });
    while (!this.stopped) {
      if (!done && caughtUp()) {
        done = true;
        if (!(await epochs.finish(site, epoch.id, start))) break;
        onCaughtUp(applied);
      }
      if (done && this.now() >= epoch.split + this.deps.tailMs) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (done) {
      await consumer.disconnect().catch(() => undefined);
      this.consumer = undefined;
      const a = kafka.admin();
      await a.connect();
      await a.deleteGroups([group]).catch(() => undefined);
      await a.disconnect();
    }
  }
}
