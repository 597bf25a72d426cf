/**
 * Rebuilds what sites lost with their epochs (speed/epoch.store.ts) by itself: for each site the
 * events of [start, split) — start the later of W and retention — are read again from Kafka and
 * applied through the same script, with offset records of the epoch's own
 * (`rb.<epoch>:<topic>:<partition>`), so the speed consumers (applying from split on) and the
 * rebuild never count an event twice, and a rebuild taken over after a crash resumes without
 * double counts. The sites lost together (a FLUSHALL takes them all) are rebuilt by one consumer
 * group reading the topic once. Once every partition has been read to where it ended when the
 * rebuild started, each epoch is done (its coverage starts at its start again); the rebuild then
 * keeps reading for `tailMs` after the split, for events of before it produced late, and leaves.
 *
 * One instance holds each epoch's lease (renewed while it runs); another takes over a lapsed one.
 */
import type { ErasureList } from '../core/erasure.list.ts';
import { createHash } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../core/logger.ts';
import { errorMessage } from '../core/errors.ts';
import type { RollupDecoder, RollupEvent } from './event.decoder.ts';
import type { EpochStore, SpeedEpoch } from './epoch.store.ts';
import { MINUTE_MS } from './redis.keys.ts';
import { offsetsAt } from './rebuild.job.ts';
import { rollupSite } from './rollup.aggregator.ts';
import type { ApplyItem, RollupWriter } from './rollup.writer.ts';
import type { OffsetEvent, PropertyKeys } from './types.ts';

export interface EpochRebuildDeps {
  kafka: Kafka;
  topic: string;
  /** The speed consumers' group; the rebuild's is `<group>.rebuild.<hash of the epochs>`. */
  groupId: string;
  decoder: RollupDecoder;
  writer: RollupWriter;
  epochs: EpochStore;
  /** Erased visitors are not rebuilt either. */
  erasures?: ErasureList;
  /** A site's listed custom property keys (their values are rebuilt too). */
  propertyKeys?: PropertyKeys;
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

/** One site's part of a rebuild. */
interface Target {
  site: string;
  epoch: SpeedEpoch;
  start: number;
  /** Offset recorded per partition (the rebuild's own field). */
  recorded: Map<number, string | null>;
  applied: number;
}

export class EpochRebuild {
  private consumer: Consumer | undefined;
  private stopped = false;
  private readonly now: () => number;
  private readonly targets = new Map<string, Target>();

  constructor(
    private readonly deps: EpochRebuildDeps,
    readonly epochs: readonly { site: string; epoch: SpeedEpoch }[],
  ) {
    this.now = deps.clock ?? Date.now;
  }

  /** Runs the rebuild to its end (or until stop(), lost leases or newer epochs). */
  async run(): Promise<void> {
    const { logger, leaseMs } = this.deps;
    const t0 = this.now();
    const w = this.deps.watermark();
    const retention = Math.ceil((this.now() - this.deps.ttlMs) / MINUTE_MS) * MINUTE_MS;
    const start = Math.max(w ?? -Infinity, retention);
    for (const { site, epoch } of this.epochs) {
      if (!(await this.deps.epochs.claim(site, epoch.id, this.deps.owner, leaseMs, this.now()))) continue;
      if (start >= epoch.split) await this.deps.epochs.finish(site, epoch.id, epoch.split);
      else this.targets.set(site, { site, epoch, start, recorded: new Map(), applied: 0 });
    }
    if (this.targets.size === 0) return;
    const sites = [...this.targets.keys()];
    logger.warn({ event: 'speed_epoch_rebuild_started', sites, from: new Date(start).toISOString() });
    const lease = setInterval(() => void this.renew(), Math.max(500, Math.floor(leaseMs / 3)));
    lease.unref();
    try {
      await this.read(start, () => {
        for (const t of this.targets.values()) this.deps.onDone?.(t.site, t.applied, this.now() - t0);
        logger.info({ event: 'speed_epoch_rebuild_done', sites: [...this.targets.keys()], events: [...this.targets.values()].reduce((n, t) => n + t.applied, 0), ms: this.now() - t0, hint: `coverage starts at ${new Date(start).toISOString()} again; late events are still read for ${Math.round(this.deps.tailMs / 1000)} s after the split` });
      });
    } catch (err) {
      logger.error({ event: 'speed_epoch_rebuild_failed', sites, err: errorMessage(err), hint: 'the leases lapse and an instance takes the rebuild over' });
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

  /** Keeps the leases; a site whose lease another instance took is left to it. */
  private async renew(): Promise<void> {
    for (const t of [...this.targets.values()]) {
      const held = await this.deps.epochs.claim(t.site, t.epoch.id, this.deps.owner, this.deps.leaseMs, this.now()).catch(() => true);
      if (!held) this.targets.delete(t.site);
    }
    if (this.targets.size === 0) void this.stop();
  }

  /** Reads [start, split) of the targets from Kafka; `onCaughtUp` once their epochs are done. */
  private async read(start: number, onCaughtUp: () => void): Promise<void> {
    const { kafka, topic } = this.deps;
    const ids = [...this.targets.values()].map((t) => t.epoch.id).sort();
    const group = `${this.deps.groupId}.rebuild.${createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16)}`;
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
        const offsets = await offsetsAt(admin, topic, start, end);
        await admin.setOffsets({ groupId: group, topic, partitions: offsets });
        from = new Map(offsets.map((p) => [p.partition, Number(p.offset)]));
      }
    } finally {
      await admin.disconnect();
    }
    // Last offset read per partition; one starting at its end has nothing to read.
    const reached = new Map<number, number>([...from].map(([p, o]) => [p, o - 1]));
    const caughtUp = () => [...end].every(([p, high]) => (reached.get(p) ?? -1) >= high - 1);
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 30_000, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        await this.apply(batch.topic, batch.partition, batch.messages);
        resolveOffset(batch.lastOffset());
        reached.set(batch.partition, Number(batch.lastOffset()));
        await heartbeat();
      },
    });
    let done = false;
    const splitEnd = Math.max(...[...this.targets.values()].map((t) => t.epoch.split));
    while (!this.stopped && this.targets.size > 0) {
      if (!done && caughtUp()) {
        done = true;
        for (const t of [...this.targets.values()]) if (!(await this.deps.epochs.finish(t.site, t.epoch.id, t.start))) this.targets.delete(t.site);
        onCaughtUp();
      }
      if (done && this.now() >= splitEnd + this.deps.tailMs) break;
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

  /** The batch's events of the targets within their ranges, one apply per site; a site whose epoch moved on is dropped. */
  private async apply(topic: string, partition: number, messages: { offset: string; value: Buffer | null }[]): Promise<void> {
    const { decoder, writer } = this.deps;
    this.deps.erasures?.refresh();
    const erasures = this.deps.erasures?.empty === false ? this.deps.erasures : undefined;
    const bySite = new Map<string, OffsetEvent[]>();
    for (const msg of messages) {
      let e: RollupEvent;
      try {
        e = decoder.decodeCached(msg.value) ?? (await decoder.decode(msg.value));
      } catch {
        continue; // the speed consumers dead-letter what does not decode
      }
      const t = this.targets.get(e.site_id);
      if (!t || e.event_time < t.start || e.event_time >= t.epoch.split) continue;
      if (erasures?.erased(e.site_id, e.visitor_id)) continue;
      let list = bySite.get(t.site);
      if (!list) bySite.set(t.site, (list = []));
      list.push({ offset: msg.offset, event: e });
    }
    const field = (t: Target) => `rb.${t.epoch.id}:${topic}:${partition}`;
    let pending = [...bySite.keys()];
    for (let attempt = 0; pending.length > 0 && attempt < 3; attempt++) {
      const items: { t: Target; item: ApplyItem; events: number }[] = [];
      for (const site of pending) {
        const t = this.targets.get(site);
        if (!t) continue;
        if (!t.recorded.has(partition)) t.recorded.set(partition, (await writer.recordedOffsets([site], field(t))).get(site) ?? null);
        const expected = t.recorded.get(partition) ?? null;
        const rollup = rollupSite(site, bySite.get(site)!, expected, this.deps.propertyKeys?.(site) ?? []);
        if (rollup) items.push({ t, events: rollup.events, item: { rollup, offsets: [{ field: field(t), expected, next: rollup.maxOffset }], epoch: t.epoch.id } });
      }
      const results = await writer.applyMany(items.map((i) => i.item));
      pending = [];
      const refused: Target[] = [];
      results.forEach((r, i) => {
        const { t, item, events } = items[i]!;
        if (r.applied) {
          t.recorded.set(partition, item.rollup.maxOffset);
          t.applied += events;
        } else {
          t.recorded.set(partition, r.current[0] ?? null);
          refused.push(t);
        }
      });
      if (refused.length === 0) break;
      const now = await this.deps.epochs.read(refused.map((t) => t.site));
      for (const t of refused) {
        if (now.get(t.site)?.id === t.epoch.id) pending.push(t.site);
        else this.targets.delete(t.site);
      }
    }
  }
}
