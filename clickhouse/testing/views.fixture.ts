/**
 * Test kit of the ClickHouse views: a batch version computed by the real batch job in a DATA_DIR,
 * published into a ClickHouse database of its own by the real publisher (the `views` step's
 * port), and a reader over it; the database is dropped at clean-up.
 */
import { randomUUID } from 'node:crypto';
import type { ConfigValues } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import { viewsPublishPorts, clickhouseViewsReader, type ViewsPublishOverrides, type ViewsPublishPorts } from '../../apps/index.ts';
import { testConfig } from '../../testing/helpers.ts';
import { ClickHouseConnection } from '../clickhouse.client.ts';
import { clickhouseOptions } from '../options.ts';
import { quoteIdentifier } from '../sql.quote.ts';
import type { ClickHouseViewsReader } from '../views.reader.ts';

export interface ViewsFixture {
  config: ConfigValues;
  ports: ViewsPublishPorts;
  reader: ClickHouseViewsReader;
  publish(): ReturnType<ViewsPublishPorts['views']['publish']>;
  close(): Promise<void>;
}

/** A fresh database name for one test's views. */
export function viewsDatabase(): string {
  return `test_views_${randomUUID().slice(0, 8)}`;
}

/**
 * The views of `dataDir` in ClickHouse (database `database`, or a fresh one); `overrides` are
 * extra config (a cluster: CLICKHOUSE_CLUSTER, CLICKHOUSE_SHARD_URLS, CLICKHOUSE_URL).
 */
export function viewsFixture(dataDir: string, overrides: Record<string, string> = {}, seams: ViewsPublishOverrides = {}): ViewsFixture {
  const config = testConfig({ DATA_DIR: dataDir, CLICKHOUSE_DATABASE: viewsDatabase(), BATCH_VIEWS_STORE: 'clickhouse', CLICKHOUSE_POINTER_CACHE: '0', ...overrides });
  const ports = viewsPublishPorts(config, silentLogger(), seams);
  const reader = clickhouseViewsReader(config);
  if (!ports || !reader) throw new Error('BATCH_VIEWS_STORE=clickhouse gave no ClickHouse views: is a ClickHouse configured?');
  return {
    config,
    ports,
    reader,
    publish: () => ports.views.publish({ signal: new AbortController().signal }),
    async close() {
      await reader.close();
      await ports.close();
      const urls = ports.options.cluster ? ports.options.shardUrls : [ports.options.clickhouse.url];
      for (const url of urls) {
        const ch = new ClickHouseConnection({ ...clickhouseOptions(config)!, url });
        await ch.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(config.CLICKHOUSE_DATABASE)}`, 'dropping the test database').catch(() => undefined);
        await ch.close();
      }
    },
  };
}
