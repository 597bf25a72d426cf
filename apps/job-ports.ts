/**
 * Builds the scheduler's ports from the real parts (the only place orchestration constructs
 * clients of other parts), so the scheduler itself only ever sees the small interfaces of types.ts.
 */
import { join } from 'node:path';
import type { RedisClient } from '../core/redis-client.ts';
import type { ConfigValues } from '../core/config.ts';
import { Calendar } from '../core/calendar.ts';
import { createRedis } from '../core/clients.ts';
import { loadSites } from '../core/sites.ts';
import type { Logger } from '../core/logger.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { SpeedKeys, SpeedMaintenance, SpeedReader } from '../speed/index.ts';
import type { DriftDeps } from '../orchestration/index.ts';
import type { BatchPort, CompactionPort, RetentionTarget, SpeedRetirePort } from '../orchestration/index.ts';
import type { ViewsPublishPort, WarehousePort } from '../orchestration/index.ts';
import { viewsPublishPorts } from './views-ports.ts';
import { batchPorts } from './batch-ports.ts';
import { warehousePorts } from './warehouse-ports.ts';

export interface JobPorts {
  redis: RedisClient;
  batch?: BatchPort;
  compaction?: CompactionPort;
  retention: RetentionTarget[];
  speed: SpeedRetirePort;
  drift?: DriftDeps;
  /** The ClickHouse warehouse step (absent when the warehouse is off). */
  warehouse?: WarehousePort;
  /** Publishing into ClickHouse, which serving reads (absent with BATCH_VIEWS_STORE=duckdb). */
  views?: ViewsPublishPort;
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
 * Retires each site's speed minutes before its own W (contract 9): its last local midnight at or
 * before batch's W, so the hours of its local day that batch does not yet cover stay in speed. A
 * site the sites file no longer names keeps a day more.
 */
async function retirePerSite(maintenance: SpeedMaintenance, sitesFile: string, w: number): Promise<{ minutesDeleted: number }> {
  const sites = loadSites(sitesFile);
  let minutesDeleted = 0;
  for (const site of await maintenance.sites()) {
    const zone = sites.get(site)?.timezone;
    minutesDeleted += await maintenance.retireBefore(zone ? Calendar.of(zone).floor(w, 'day') : w - 86_400_000, site);
  }
  return { minutesDeleted };
}

export async function buildJobPorts(config: ConfigValues, logger: Logger): Promise<JobPorts> {
  const redis = createRedis(config);
  const keys = new SpeedKeys(config.SPEED_KEY_PREFIX);
  const maintenance = new SpeedMaintenance({ redis, keys, ttlMs: config.SPEED_TTL });
  const speedReader = new SpeedReader({ redis, keys, ttlMs: config.SPEED_TTL });
  const batch = batchPorts(config, logger);
  const retention: RetentionTarget[] = [...batch.retention, dlqRetention(config.DATA_DIR, config.RETENTION_DLQ)];
  const warehouse = warehousePorts(config, logger);
  const views = viewsPublishPorts(config, logger);
  // The batch views' trims mirrored in ClickHouse at once, not at the next batch run (BATCH_VIEWS_STORE=clickhouse).
  if (views) retention.splice(1, 0, { store: 'clickhouse-views', purge: async () => ({ removed: (await views.views.publish({ signal: new AbortController().signal })).trimmed?.length ?? 0 }) });
  return {
    redis,
    batch: batch.batch,
    compaction: batch.compaction,
    retention,
    speed: { retireBefore: (w) => retirePerSite(maintenance, config.SITES_FILE, w) },
    // Both readers answer the read contract's units (revenue in micros), so drift compares like with like.
    drift: { speed: speedReader, batch: batch.reader, sites: () => maintenance.sites(), threshold: config.DRIFT_THRESHOLD },
    ...(warehouse ? { warehouse: warehouse.warehouse } : {}),
    ...(views ? { views: views.views } : {}),
    async close() {
      await warehouse?.close();
      await views?.close();
      await batch.close();
      redis.disconnect();
    },
  };
}
