/**
 * `twinlane speed rebuild` as a function: clears the speed keys (of one site or all) with their
 * offset records and re-reads Kafka from a time (default W). Used by the CLI and by `make
 * pipeline`, which rebuilds a speed store of an older data format before it starts the consumers.
 */
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { RebuildJob } from '../speed/index.ts';
import { guardDataFormats, prepareSpeedRebuild } from './data-format.guard.ts';
import { createSpeedRuntime } from './speed.runtime.ts';

export interface SpeedRebuildRequest {
  site?: string;
  from?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SpeedRebuildSummary {
  from: number;
  records: number;
  keysDeleted: number;
  ms: number;
}

/** The speed consumers must be stopped: the rebuild replays their partitions itself. */
export async function rebuildSpeedStore(config: ConfigValues, logger: Logger, r: SpeedRebuildRequest = {}): Promise<SpeedRebuildSummary> {
  // DATA_DIR holds W; the speed store's own format is what a rebuild of every site rewrites.
  await guardDataFormats(config, { role: 'twinlane speed rebuild', stores: ['data-dir'], logger });
  const rt = await createSpeedRuntime(config, logger);
  try {
    const from = r.from ?? (await rt.watermark.watermark()) ?? Date.now() - rt.options.ttlMs + 60_000;
    const markRebuilt = await prepareSpeedRebuild(rt.redis, rt.options.keyPrefix, r.site, logger);
    for (const s of rt.services.slice(0, -1)) await s.start();
    const job = new RebuildJob({ kafka: rt.kafka, maintenance: rt.maintenance, topic: rt.options.topic, groupId: rt.options.groupId, logger, consumer: rt.consumer });
    const res = await job.run({ from, ...(r.site ? { site: r.site } : {}), ...(r.onProgress ? { onProgress: r.onProgress } : {}) });
    await markRebuilt();
    return { from: res.from, records: res.records, keysDeleted: res.keysDeleted, ms: res.ms };
  } finally {
    for (const s of [...rt.services].reverse()) await s.stop();
  }
}
