/**
 * Builds the serving layer's real dependencies from configuration: the speed reader over
 * Redis, the batch reader over the views in DATA_DIR or in ClickHouse (BATCH_VIEWS_STORE; pinned
 * per request by `snapshot()`),
 * the sites file and the orchestration's job ledger. Used by the entry point, the CLI and
 * the benchmark, so all three serve exactly what production serves.
 */
import type { RedisClient } from '../core/redis-client.ts';
import { BatchReader } from '../batch/index.ts';
import { createRedis } from '../core/clients.ts';
import type { ConfigValues } from '../core/config.ts';
import { loadSites, type Sites } from '../core/sites.ts';
import { JobLedger, ledgerPath } from '../orchestration/index.ts';
import { SpeedKeys, SpeedReader } from '../speed/index.ts';
import type { ServingDeps } from '../serving/index.ts';
import type { BatchSource, JobsReader } from '../serving/index.ts';
import { clickhouseViewsReader } from './views-ports.ts';
import { exportPort } from './export-ports.ts';

export interface ServingRuntime {
  deps: Omit<ServingDeps, 'logger' | 'metrics'>;
  redis: RedisClient;
  /** The sites `deps` reads through, for a watcher to reload in place. */
  sites: Sites;
  close(): Promise<void>;
}

export function batchSource(reader: { snapshot(): Promise<Awaited<ReturnType<BatchSource['current']>>> }): BatchSource {
  return { current: () => reader.snapshot() };
}

export function jobsReader(ledger: JobLedger): JobsReader {
  return { list: (limit) => ledger.list({ limit }), get: (id) => ledger.get(id) };
}

export function createServingRuntime(config: ConfigValues, over: { redis?: RedisClient; keyPrefix?: string; dataDir?: string } = {}): ServingRuntime {
  const redis = over.redis ?? createRedis(config);
  const dataDir = over.dataDir ?? config.DATA_DIR;
  // BATCH_VIEWS_STORE=clickhouse: the views published there; serving then reads no files of DATA_DIR's views.
  const batch = clickhouseViewsReader(config) ?? new BatchReader({ dataDir, duckdb: { memoryLimit: '1GB', threads: 2 } });
  const speed = new SpeedReader({ redis, keys: new SpeedKeys(over.keyPrefix ?? config.SPEED_KEY_PREFIX), ttlMs: config.SPEED_TTL });
  const sites = loadSites(config.SITES_FILE);
  return {
    deps: { batch: batchSource(batch), speed, sites, jobs: jobsReader(new JobLedger(ledgerPath(dataDir))), exports: exportPort(config, dataDir, batch, sites) },
    redis,
    sites,
    async close() {
      await batch.close();
      if (!over.redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
