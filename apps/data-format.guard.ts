/**
 * The data-format check (core/data-format.ts) wired for the processes: which stores exist, the
 * tables of their migrations, and one call every service and every CLI command that writes data
 * makes before it builds anything else. Services refuse older data; `twinlane data migrate` and
 * `twinlane batch run` migrate DATA_DIR; `twinlane speed rebuild` rewrites the speed store whole.
 */
import type { RedisClient } from '../core/redis-client.ts';
import { createRedis } from '../core/clients.ts';
import type { ConfigValues } from '../core/config.ts';
import { DataDirMarker } from '../core/data-dir.marker.ts';
import {
  DATA_DIR_FORMAT,
  DataFormatError,
  SPEED_STORE_FORMAT,
  checkDataFormat,
  formatRefusal,
  inspectDataFormat,
  markDataFormat,
  type FormatCheckResult,
  type FormatInspection,
  type FormatKind,
  type FormatMode,
  type Migration,
} from '../core/data-format.ts';
import type { Logger } from '../core/logger.ts';
import { SpeedFormatMarker, SpeedKeys } from '../speed/index.ts';
import { ViewsStore, batchOptions, lakeDays, runBatch } from '../batch/index.ts';

export interface DataDirMigrationContext {
  dataDir: string;
  config: ConfigValues;
  logger: Logger | undefined;
}

export interface SpeedStoreMigrationContext {
  redis: RedisClient;
  keys: SpeedKeys;
  logger: Logger | undefined;
}

/**
 * Views of an older format (missing-value labels, revenue of every currency in one sum, client
 * session ids): every day still in the lake is recomputed into a new version, and the older
 * versions are dropped (a rollback would bring the old views back). Days already gone from the
 * lake keep their views as computed.
 */
async function recomputeViewsFromLake(c: DataDirMigrationContext): Promise<void> {
  const days = lakeDays(c.dataDir);
  if (days.length === 0) return;
  c.logger?.info({ event: 'data_migration_recompute', from: days[0], to: days.at(-1), days: days.length });
  const record = await runBatch({ options: batchOptions({ ...c.config, DATA_DIR: c.dataDir }), ...(c.logger ? { logger: c.logger } : {}) }, { dates: days });
  if (record.status === 'failed') throw new DataFormatError('DATA_FORMAT_MIGRATION_FAILED', `recomputing the batch views from the lake failed: ${record.errors.join('; ')}`, c.dataDir, DATA_DIR_FORMAT - 1, DATA_DIR_FORMAT, { retriable: true });
  new ViewsStore(c.dataDir).prune(1);
}

/** DATA_DIR: from-format → the step to the next. */
// 2 → 3: the views of format 2 have no currency column (revenue summed across currencies) and count
//        the client's session ids, not the server's visits.
// 3 → 4: the views of format 3 have no UTM medium, campaign, term, content or channel columns.
// 4 → 5: the views' events of format 4 have no custom properties.
// Each is the same recomputation by the current job, so only the last step runs it.
export const DATA_DIR_MIGRATIONS: Record<number, Migration<DataDirMigrationContext>> = {
  // Nothing to do of their own: the 4 → 5 step recomputes every view with the current job, and a
  // migration stopped in between resumes at its marker and still runs it.
  1: async () => undefined,
  2: async () => undefined,
  3: async () => undefined,
  4: recomputeViewsFromLake,
};

/** Speed store: from-format → the step to the next. Without one, `twinlane speed rebuild` rewrites the store. */
export const SPEED_STORE_MIGRATIONS: Record<number, Migration<SpeedStoreMigrationContext>> = {};

export const DATA_DIR_KIND: FormatKind<DataDirMigrationContext> = {
  name: 'DATA_DIR',
  current: DATA_DIR_FORMAT,
  migrations: DATA_DIR_MIGRATIONS,
  withoutMigration: (found) => `no migration from format ${found} is registered; run the Twinlane version that wrote it, or start from an empty DATA_DIR`,
};

export const SPEED_STORE_KIND: FormatKind<SpeedStoreMigrationContext> = {
  name: 'speed store',
  current: SPEED_STORE_FORMAT,
  migrations: SPEED_STORE_MIGRATIONS,
  withoutMigration: () => 'the speed store is rebuilt, not migrated: stop the speed consumers and run `twinlane speed rebuild` (it clears the store and re-reads Kafka from the batch watermark W)',
};

export type DataStoreName = 'data-dir' | 'speed-store';

export interface FormatGuard {
  /** The process, written into markers: `speed`, `serving`, `twinlane data migrate`. */
  role: string;
  stores: readonly DataStoreName[];
  /** `refuse` (services) unless this process is a migrator. */
  mode?: FormatMode;
  logger?: Logger;
  /** A Redis client to use (else one is opened and closed for the check). */
  redis?: RedisClient;
  /** Instead of DATA_DIR and SPEED_KEY_PREFIX (tests). */
  dataDir?: string;
  keyPrefix?: string;
}

async function withRedis<T>(config: ConfigValues, given: RedisClient | undefined, fn: (redis: RedisClient) => Promise<T>): Promise<T> {
  const redis = given ?? createRedis(config);
  try {
    return await fn(redis);
  } finally {
    if (!given) await redis.quit().catch(() => redis.disconnect());
  }
}

/** Checks DATA_DIR and/or the speed store: writes the marker of an empty one, migrates or refuses the rest. */
export async function guardDataFormats(config: ConfigValues, g: FormatGuard): Promise<FormatCheckResult[]> {
  const mode = g.mode ?? 'refuse';
  const out: FormatCheckResult[] = [];
  if (g.stores.includes('data-dir')) {
    const dataDir = g.dataDir ?? config.DATA_DIR;
    out.push(await checkDataFormat({ store: new DataDirMarker(dataDir), kind: DATA_DIR_KIND, context: { dataDir, config, logger: g.logger }, mode, role: g.role, ...(g.logger ? { logger: g.logger } : {}) }));
  }
  if (g.stores.includes('speed-store')) {
    out.push(
      await withRedis(config, g.redis, (redis) => {
        const keys = new SpeedKeys(g.keyPrefix ?? config.SPEED_KEY_PREFIX);
        return checkDataFormat({ store: new SpeedFormatMarker(redis, keys), kind: SPEED_STORE_KIND, context: { redis, keys, logger: g.logger }, mode, role: g.role, ...(g.logger ? { logger: g.logger } : {}) });
      }),
    );
  }
  return out;
}

/** What `twinlane data status` shows: both stores as they are, nothing written. */
export async function inspectDataFormats(config: ConfigValues, o: { redis?: RedisClient; dataDir?: string; keyPrefix?: string } = {}): Promise<{ store: DataStoreName; inspection: FormatInspection }[]> {
  const dataDir = await inspectDataFormat(new DataDirMarker(o.dataDir ?? config.DATA_DIR), DATA_DIR_KIND);
  const speed = await inspectSpeedStore(config, o);
  return [
    { store: 'data-dir', inspection: dataDir },
    { store: 'speed-store', inspection: speed },
  ];
}

/** The speed store's format as it is, nothing written. */
export function inspectSpeedStore(config: ConfigValues, o: { redis?: RedisClient; keyPrefix?: string } = {}): Promise<FormatInspection> {
  return withRedis(config, o.redis, (redis) => inspectDataFormat(new SpeedFormatMarker(redis, new SpeedKeys(o.keyPrefix ?? config.SPEED_KEY_PREFIX)), SPEED_STORE_KIND));
}

/**
 * Before `twinlane speed rebuild`: a store of a newer format is refused; one of an older format
 * only when one site is rebuilt (the others would stay old). Returns what to run once the rebuild
 * succeeded: a rebuild of every site rewrote the store, so it is marked current.
 */
export async function prepareSpeedRebuild(redis: RedisClient, keyPrefix: string, site: string | undefined, logger?: Logger): Promise<() => Promise<void>> {
  const keys = new SpeedKeys(keyPrefix);
  const store = new SpeedFormatMarker(redis, keys);
  const ins = await inspectDataFormat(store, SPEED_STORE_KIND);
  if (ins.verdict === 'newer') throw formatRefusal(ins, SPEED_STORE_KIND, 'migrate');
  if (ins.verdict === 'older' && site !== undefined) {
    throw new DataFormatError(
      'DATA_FORMAT_OLDER',
      `${ins.where} holds data format ${ins.found}; this Twinlane needs speed store format ${SPEED_STORE_KIND.current}, and a rebuild of site "${site}" alone would leave the other sites in format ${ins.found}: run \`twinlane speed rebuild\` without --site`,
      ins.where,
      ins.found,
      SPEED_STORE_KIND.current,
    );
  }
  return async () => {
    if (site === undefined) {
      await markDataFormat(store, SPEED_STORE_KIND.current, 'speed rebuild');
      logger?.info({ event: 'data_format_marked', store: ins.where, format: SPEED_STORE_KIND.current, action: 'rebuilt' });
    } else await checkDataFormat({ store, kind: SPEED_STORE_KIND, context: { redis, keys, logger }, mode: 'refuse', role: 'speed rebuild', ...(logger ? { logger } : {}) });
  };
}
