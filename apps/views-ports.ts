/**
 * The batch views in ClickHouse (BATCH_VIEWS_STORE=clickhouse): the batch job's versions
 * (batch/ ViewsStore) adapted to the publisher's source (clickhouse/), the `views` step's port,
 * and the reader serving uses instead of the files. Only this file knows both parts.
 */
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { ViewsStore } from '../batch/index.ts';
import { ClickHouseConnection, ClickHouseViewsReader, ViewsPublisher, viewsStoreOptions, type PublisherDeps, type ViewsSource, type ViewsStoreOptions } from '../clickhouse/index.ts';
import type { ViewsPublishPort } from '../orchestration/index.ts';

/** The batch job's versions in DATA_DIR as the publisher reads them. */
export function viewsSource(dataDir: string): ViewsSource {
  const store = new ViewsStore(dataDir);
  return {
    current: () => store.current(),
    kept: () => store.versions().map((v) => store.manifest(v)),
    reason: () => store.pointer()?.reason ?? 'run',
    file: (dir, table) => store.tablePath(dir, table),
  };
}

export interface ViewsPublishPorts {
  views: ViewsPublishPort;
  publisher: ViewsPublisher;
  options: ViewsStoreOptions;
  close(): Promise<void>;
}

/** Test seams of the publisher. */
export type ViewsPublishOverrides = Pick<PublisherDeps, 'beforeFlip'>;

/** The `views` step's port, or undefined when serving reads the batch job's files (BATCH_VIEWS_STORE=duckdb). */
export function viewsPublishPorts(config: ConfigValues, logger: Logger, overrides: ViewsPublishOverrides = {}): ViewsPublishPorts | undefined {
  const options = viewsStoreOptions(config);
  if (!options) return undefined;
  const entry = new ClickHouseConnection(options.clickhouse);
  const shards = options.cluster ? options.shardUrls.map((url) => new ClickHouseConnection({ ...options.clickhouse, url })) : [entry];
  const publisher = new ViewsPublisher({
    entry,
    shards,
    database: options.clickhouse.database,
    ...(options.cluster ? { cluster: options.cluster } : {}),
    duckdb: { memoryLimit: config.BATCH_MEMORY_LIMIT, threads: config.BATCH_THREADS, tempDir: join(config.DATA_DIR, 'views-clickhouse', '_duckdb_tmp') },
    workDir: join(config.DATA_DIR, 'views-clickhouse', 'parts'),
    logger,
    ...overrides,
  });
  const source = viewsSource(config.DATA_DIR);
  return {
    views: { publish: ({ signal }) => publisher.sync(source, signal) },
    publisher,
    options,
    async close() {
      await Promise.all([entry, ...shards.filter((s) => s !== entry)].map((c) => c.close()));
    },
  };
}

/** Serving's batch-view reader over ClickHouse (undefined: BATCH_VIEWS_STORE=duckdb). */
export function clickhouseViewsReader(config: ConfigValues): ClickHouseViewsReader | undefined {
  const options = viewsStoreOptions(config);
  if (!options) return undefined;
  return new ClickHouseViewsReader({
    connection: new ClickHouseConnection(options.clickhouse),
    database: options.clickhouse.database,
    ...(options.cluster ? { cluster: options.cluster } : {}),
    readTimeoutMs: options.readTimeoutMs,
    pointerCacheMs: options.pointerCacheMs,
  });
}
