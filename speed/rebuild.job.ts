/**
 * Rebuild (issue item 6): clears a site's speed keys (or all) with their offset records, moves
 * the speed group back to `from` on every partition and consumes up to the end offsets seen at
 * the start. Other sites keep their keys and offset records, so re-reading their events applies
 * nothing twice. The group must have no running members: offsets of an active group cannot be
 * moved, and a live consumer would race the clearing.
 */
import type { Admin, Kafka } from 'kafkajs';
import { UsageError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Service } from '../core/lifecycle.ts';
import type { SpeedMaintenance } from './maintenance.job.ts';
import { MINUTE_MS } from './redis.keys.ts';

/** Kafka timestamps are produce times; late events of `from` were produced a little earlier. */
export const REBUILD_SEEK_GRACE_MS = 10 * MINUTE_MS;

/**
 * Where a group reading events from `from` (event time) starts on each partition: the offsets of
 * `from` minus the grace (Kafka timestamps); a partition with nothing since answers -1 and starts
 * at its end (`end`: each partition's high watermark).
 */
export async function offsetsAt(admin: Admin, topic: string, from: number, end: ReadonlyMap<number, number>): Promise<{ partition: number; offset: string }[]> {
  const at = await admin.fetchTopicOffsetsByTimestamp(topic, from - REBUILD_SEEK_GRACE_MS);
  return at.map((p) => ({ partition: p.partition, offset: Number(p.offset) < 0 ? String(end.get(p.partition) ?? 0) : p.offset }));
}

export interface RebuildDeps {
  kafka: Kafka;
  maintenance: SpeedMaintenance;
  topic: string;
  groupId: string;
  logger: Logger;
  /** A speed consumer of `groupId` (started and stopped by the job). */
  consumer: Service & { readonly progress: ReadonlyMap<string, string>; replayingFrom?(from: number): void };
}

export interface RebuildRequest {
  site?: string;
  /** Event time to rebuild from (epoch ms), aligned down to the minute. */
  from: number;
  onProgress?: (done: number, total: number) => void;
  timeoutMs?: number;
}

export interface RebuildResult {
  from: number;
  keysDeleted: number;
  records: number;
  ms: number;
}

export class RebuildJob {
  constructor(private readonly deps: RebuildDeps) {}

  async run(req: RebuildRequest): Promise<RebuildResult> {
    const t0 = Date.now();
    const { kafka, topic, groupId, maintenance, logger } = this.deps;
    const from = Math.floor(req.from / MINUTE_MS) * MINUTE_MS;
    const admin = kafka.admin();
    await admin.connect();
    let start: { partition: number; offset: string }[];
    let end: Map<number, number>;
    let keysDeleted: number;
    try {
      const { groups } = await admin.describeGroups([groupId]);
      const members = groups[0]?.members.length ?? 0;
      if (members > 0) throw new UsageError('SPEED_GROUP_ACTIVE', `consumer group ${groupId} has ${members} running member(s); stop the speed consumers before a rebuild`);
      end = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
      start = await offsetsAt(admin, topic, from, end);
      const sites = req.site === undefined ? await maintenance.sites() : [req.site];
      keysDeleted = await maintenance.clear(req.site);
      for (const s of sites) {
        await maintenance.setCoverageFrom(s, from);
        await maintenance.resetEpoch(s, from);
      }
      await admin.setOffsets({ groupId, topic, partitions: start });
    } finally {
      await admin.disconnect();
    }
    const total = start.reduce((s, p) => s + Math.max(0, (end.get(p.partition) ?? 0) - Number(p.offset)), 0);
    logger.info({ event: 'speed_rebuild_started', site: req.site ?? '*', from, records: total, keys_deleted: keysDeleted });
    await this.consumeUntil(start, end, total, req);
    logger.info({ event: 'speed_rebuild_done', site: req.site ?? '*', from, records: total, ms: Date.now() - t0 });
    return { from, keysDeleted, records: total, ms: Date.now() - t0 };
  }

  private async consumeUntil(start: { partition: number; offset: string }[], end: Map<number, number>, total: number, req: RebuildRequest): Promise<void> {
    const { consumer, topic } = this.deps;
    const deadline = Date.now() + (req.timeoutMs ?? 3_600_000);
    const done = () =>
      start.reduce((s, p) => {
        const resolved = consumer.progress.get(`${topic}:${p.partition}`);
        const upTo = resolved === undefined ? Number(p.offset) : Math.min(end.get(p.partition)!, Number(resolved) + 1);
        return s + Math.max(0, upTo - Number(p.offset));
      }, 0);
    // Sites cleared before the job (whose epochs it could not reset) get theirs from the replay.
    consumer.replayingFrom?.(Math.floor(req.from / MINUTE_MS) * MINUTE_MS);
    await consumer.start();
    try {
      for (;;) {
        const d = done();
        req.onProgress?.(d, total);
        if (d >= total) return;
        if (Date.now() > deadline) throw new UsageError('SPEED_REBUILD_TIMEOUT', `rebuild read ${d} of ${total} records before the timeout`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await consumer.stop();
    }
  }
}
