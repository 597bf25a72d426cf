/**
 * Builds the scheduler's ports from the real parts (the only place orchestration constructs
 * clients of other parts), so the scheduler itself only ever sees the small interfaces of types.ts.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { ConfigValues } from '../core/config.ts';
import { createRedis } from '../core/clients.ts';
import type { Logger } from '../core/logger.ts';
import type { ViewReader } from '../core/views.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { SpeedKeys, SpeedMaintenance, SpeedReader } from '../speed/index.ts';
import type { DriftDeps } from '../orchestration/index.ts';
import type { BatchPort, CompactionPort, RetentionTarget, SpeedRetirePort } from '../orchestration/index.ts';
import { batchPorts } from './batch-ports.ts';

export interface JobPorts {
  redis: Redis;
  batch?: BatchPort;
  compaction?: CompactionPort;
  retention: RetentionTarget[];
  speed: SpeedRetirePort;
  drift?: DriftDeps;
  close(): Promise<void>;
}

export function dlqRetention(dataDir: string, retentionMs: number): RetentionTarget {
  return {
    store: 'dlq',
    async purge(now) {
      const items = new DeadLetterStore(join(dataDir, 'dlq')).prune(now - retentionMs);
      return { removed: items.length, items: items.map((d) => `dlq dt=${d}`) };
    },
  };
}

/**
 * The speed store counts revenue in micro-units, batch and the serving API in currency units
 * (serving/speed-units.adapter.ts states the rule); drift compares what users see, so the speed
 * side is converted the same way: to cents, then units.
 */
export function speedSeriesInCurrencyUnits(speed: ViewReader): ViewReader {
  return {
    source: speed.source,
    exact: speed.exact,
    coverage: (site) => speed.coverage(site),
    totals: (q) => speed.totals(q),
    breakdown: (q) => speed.breakdown(q),
    series: async (q) =>
      (await speed.series(q)).map((p) => (p.values.revenue === undefined ? p : { start: p.start, values: { ...p.values, revenue: Math.round(p.values.revenue / 10_000) / 100 } })),
  };
}

export async function buildJobPorts(config: ConfigValues, logger: Logger): Promise<JobPorts> {
  const redis = createRedis(config);
  const keys = new SpeedKeys(config.SPEED_KEY_PREFIX);
  const maintenance = new SpeedMaintenance({ redis, keys, ttlMs: config.SPEED_TTL });
  const speedReader = new SpeedReader({ redis, keys, ttlMs: config.SPEED_TTL });
  const batch = batchPorts(config, logger);
  const retention: RetentionTarget[] = [...batch.retention, dlqRetention(config.DATA_DIR, config.RETENTION_DLQ)];
  return {
    redis,
    batch: batch.batch,
    compaction: batch.compaction,
    retention,
    speed: { retireBefore: async (t) => ({ minutesDeleted: await maintenance.retireBefore(t) }) },
    drift: { speed: speedSeriesInCurrencyUnits(speedReader), batch: batch.reader, sites: () => maintenance.sites() },
    async close() {
      await batch.close();
      redis.disconnect();
    },
  };
}
