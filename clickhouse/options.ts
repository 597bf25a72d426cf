/** Options of the ClickHouse part, built by entry points from core/config.ts values. */
import type { ConfigValues } from '../core/config.ts';
import { UsageError } from '../core/errors.ts';

export interface ClickHouseOptions {
  /** HTTP URL of the server (or of a load balancer in front of a cluster). */
  url: string;
  username: string;
  password: string;
  /** Database of the warehouse tables. */
  database: string;
  /** Socket idle timeout of a request (ms): a server that stops answering fails the request after this. */
  requestTimeoutMs: number;
}

export interface WarehouseOptions {
  clickhouse: ClickHouseOptions;
  /** A cluster: its name and shards' URLs (absent: one server). */
  cluster?: { name: string; shardUrls: string[] };
  /** HTTP insert streams per day (ClickHouse parses each on its own thread). */
  streams: number;
}

/** Limits of `twinlane sql`. */
export interface SqlLimits {
  maxRows: number;
  timeoutMs: number;
}

export const SQL_DEFAULTS: SqlLimits = { maxRows: 10_000, timeoutMs: 30_000 };

/**
 * Server settings of a load's inserts: blocks of 256k rows, not squashed into bigger ones. Each
 * insert block takes fresh memory; bigger blocks cost more CPU (10M events, merges paused: 22
 * ClickHouse CPU-s with these, 31 with 1M-row blocks, 46 with the defaults, which also squash)
 * and hold more memory. 256k rows keep a 10M-event day at about 40 parts, far from the 300 that
 * make ClickHouse refuse inserts.
 */
export const LOAD_INSERT_SETTINGS = {
  max_insert_block_size: '262144',
  min_insert_block_size_rows: '0',
  min_insert_block_size_bytes: '0',
} as const;

/** Requests of a load idle longer than this (ms) fail: a stopped server is noticed within it. */
export const LOAD_REQUEST_TIMEOUT_MS = 120_000;

export function clickhouseOptions(c: ConfigValues, overrides: Partial<ClickHouseOptions> = {}): ClickHouseOptions | undefined {
  if (!c.CLICKHOUSE_URL && !overrides.url) return undefined;
  return {
    url: c.CLICKHOUSE_URL,
    username: c.CLICKHOUSE_USER,
    password: c.CLICKHOUSE_PASSWORD,
    database: c.CLICKHOUSE_DATABASE,
    requestTimeoutMs: LOAD_REQUEST_TIMEOUT_MS,
    ...overrides,
  };
}

/** Whether the warehouse step runs: WAREHOUSE_ENABLED=true, or `auto` with a ClickHouse configured. */
export function warehouseEnabled(c: ConfigValues): boolean {
  return c.WAREHOUSE_ENABLED === 'true' || (c.WAREHOUSE_ENABLED === 'auto' && c.CLICKHOUSE_URL !== '');
}

export function warehouseOptions(c: ConfigValues): WarehouseOptions | undefined {
  const clickhouse = clickhouseOptions(c);
  const cluster = clusterOptions(c);
  return clickhouse ? { clickhouse, streams: c.WAREHOUSE_STREAMS, ...(cluster ? { cluster } : {}) } : undefined;
}

/**
 * The cluster the batch views and the warehouse are sharded over (CLICKHOUSE_CLUSTER with
 * CLICKHOUSE_SHARD_URLS), or undefined for one server. Inserts go to each shard directly, so every
 * shard is known to hold a day before it counts as loaded; reads go through Distributed tables.
 */
export function clusterOptions(c: ConfigValues): { name: string; shardUrls: string[] } | undefined {
  const shardUrls = c.CLICKHOUSE_SHARD_URLS.split(',').map((u) => u.trim()).filter(Boolean);
  if (c.CLICKHOUSE_CLUSTER && shardUrls.length === 0) throw new UsageError('CLICKHOUSE_CLUSTER_INCOMPLETE', `CLICKHOUSE_CLUSTER=${c.CLICKHOUSE_CLUSTER} needs CLICKHOUSE_SHARD_URLS: the HTTP URL of each shard, in remote_servers order`);
  if (!c.CLICKHOUSE_CLUSTER && shardUrls.length > 0) throw new UsageError('CLICKHOUSE_CLUSTER_INCOMPLETE', 'CLICKHOUSE_SHARD_URLS goes with CLICKHOUSE_CLUSTER (the remote_servers cluster the Distributed tables read)');
  return c.CLICKHOUSE_CLUSTER ? { name: c.CLICKHOUSE_CLUSTER, shardUrls } : undefined;
}

/** Where the batch views are published and read (BATCH_VIEWS_STORE=clickhouse). */
export interface ViewsStoreOptions {
  clickhouse: ClickHouseOptions;
  /** The shards' HTTP URLs in remote_servers order (one server: just the entry URL). */
  shardUrls: string[];
  /** The remote_servers cluster of the Distributed tables (absent: one server). */
  cluster?: string;
  readTimeoutMs: number;
  pointerCacheMs: number;
}

/**
 * The views store's options, or undefined when serving reads the batch job's files. A cluster
 * needs its shards' URLs (inserts go to each shard directly, so every shard is known to hold a
 * day before the pointer moves); one server needs neither.
 */
export function viewsStoreOptions(c: ConfigValues, overrides: Partial<ClickHouseOptions> = {}): ViewsStoreOptions | undefined {
  if (c.BATCH_VIEWS_STORE !== 'clickhouse') return undefined;
  const clickhouse = clickhouseOptions(c, overrides);
  if (!clickhouse) throw new UsageError('VIEWS_STORE_NOT_CONFIGURED', 'BATCH_VIEWS_STORE=clickhouse but no ClickHouse is configured: set CLICKHOUSE_URL, or run `make stack-up`, which starts one');
  const cluster = clusterOptions(c);
  return {
    clickhouse,
    shardUrls: cluster ? cluster.shardUrls : [clickhouse.url],
    ...(cluster ? { cluster: cluster.name } : {}),
    readTimeoutMs: c.CLICKHOUSE_READ_TIMEOUT,
    pointerCacheMs: c.CLICKHOUSE_POINTER_CACHE,
  };
}
