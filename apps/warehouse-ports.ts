/**
 * The warehouse step's port: the current batch version (batch/) says which days exist and which
 * computation each holds; the lake (batch/) gives each day's files; the ClickHouse loader
 * (clickhouse/) makes the warehouse hold exactly those days. Only this file knows both parts.
 */
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { lakeDay, ViewsStore } from '../batch/index.ts';
import { ClickHouseConnection, WarehouseError, WarehouseLoader, ownerOf, warehouseEnabled, warehouseOptions, type DaySource, type LoaderDeps } from '../clickhouse/index.ts';
import type { WarehousePort } from '../orchestration/index.ts';
import { ErasureList } from '../core/erasure.list.ts';

export interface WarehousePorts {
  warehouse: WarehousePort;
  /** Absent when WAREHOUSE_ENABLED=true but no ClickHouse is configured (every sync then fails, saying so). */
  loader?: WarehouseLoader;
  close(): Promise<void>;
}

/** Test seams of the loader. */
export type WarehouseOverrides = Pick<LoaderDeps, 'beforeSwap'>;

/** Each day of the current batch version with the view folder that computed it and its lake files. */
export function batchVersionDays(dataDir: string): { version: string; days: DaySource[] } | undefined {
  const views = new ViewsStore(dataDir);
  const current = views.current();
  if (!current) return undefined;
  const days = Object.entries(current.days).map(([day, entry]) => ({ day, source: entry.dir, files: lakeDay(dataDir, day).files }));
  return { version: current.version, days };
}

/** The warehouse port, or undefined when the warehouse is off (WAREHOUSE_ENABLED, CLICKHOUSE_URL). */
export function warehousePorts(config: ConfigValues, logger: Logger, overrides: WarehouseOverrides = {}): WarehousePorts | undefined {
  if (!warehouseEnabled(config)) return undefined;
  const options = warehouseOptions(config);
  if (!options) {
    const fail = new WarehouseError('WAREHOUSE_NOT_CONFIGURED', 'WAREHOUSE_ENABLED=true but no ClickHouse is configured: set CLICKHOUSE_URL, or run `make stack-up`, which starts one');
    return { warehouse: { sync: () => Promise.reject(fail) }, close: async () => undefined };
  }
  const connection = new ClickHouseConnection(options.clickhouse);
  const shards = options.cluster?.shardUrls.map((url) => new ClickHouseConnection({ ...options.clickhouse, url })) ?? [];
  const loader = new WarehouseLoader({
    connection,
    ...(options.cluster ? { shards, cluster: options.cluster.name } : {}),
    database: options.clickhouse.database,
    owner: ownerOf(config.DATA_DIR),
    streams: options.streams,
    duckdb: { memoryLimit: config.BATCH_MEMORY_LIMIT, threads: config.BATCH_THREADS, tempDir: join(config.DATA_DIR, 'warehouse', '_duckdb_tmp') },
    workDir: join(config.DATA_DIR, 'warehouse', 'parts'),
    logger,
    erasedMacroSql: () => new ErasureList(config.DATA_DIR).macroSql(),
    ...overrides,
  });
  const warehouse: WarehousePort = {
    async sync({ signal }) {
      const current = batchVersionDays(config.DATA_DIR);
      // No batch version yet: nothing to mirror, and nothing the warehouse holds is dropped.
      if (!current) return { loaded: [], dropped: [], unchanged: 0 };
      const r = await loader.sync(current.days, signal);
      return { loaded: r.loaded.map((d) => ({ day: d.day, rows: d.rows, duplicates: d.duplicates, source: d.source })), dropped: r.dropped, unchanged: r.unchanged, version: current.version };
    },
  };
  return {
    warehouse,
    loader,
    async close() {
      await Promise.all([connection, ...shards].map((c) => c.close()));
    },
  };
}
