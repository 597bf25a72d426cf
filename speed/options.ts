/** Options of the speed consumer, from configuration (entry points) or tests. */
import type { ConfigValues } from '../core/config.ts';

export interface SpeedOptions {
  topic: string;
  groupId: string;
  keyPrefix: string;
  /** TTL of every key, and the retention beyond which events are skipped. */
  ttlMs: number;
  /** Contract 9's idle timeout (ms) that ends a visit (SESSION_IDLE_TIMEOUT); default 30 minutes. */
  sessionIdleMs?: number;
  sessionTimeoutMs: number;
  watermarkRefreshMs: number;
  /** Kafka commits are lazy: Redis holds the exact applied offsets, a replay is harmless. */
  commitIntervalMs: number;
  /** Partitions whose batches are processed at the same time (overlaps decode with Redis). */
  partitionsConcurrently: number;
  /** Partition batches folded into one Redis round at most (apply.coalescer.ts). */
  partitionsPerRound: number;
  /** Largest fetch per partition; bigger batches mean fewer, larger Redis scripts. */
  maxBytesPerPartition: number;
  /** Longest the broker holds a fetch when there is little data (bounds freshness). */
  maxWaitMs: number;
  /** Members per counter hash and page/referrer set of one site and minute; past it, `(other)` (SPEED_MAX_MEMBERS). */
  maxMembers?: number;
  /** How long counted event ids are kept so a client retry (same id) counts once (SPEED_DEDUPE_WINDOW); 0 or absent: off. */
  dedupeMs?: number;
  /** How often the consumer checks its sites' epochs (a flushed Redis is seen that soon even without traffic). */
  epochCheckMs?: number;
  /** Lease of an epoch rebuild, renewed while it runs; another instance takes a lapsed one over. */
  rebuildLeaseMs?: number;
  /** How long after an epoch's split its rebuild still reads events of before it produced late. */
  rebuildTailMs?: number;
  /** Redis Cluster: how long a write round waits for the replicas of its masters (REDIS_WAIT_TIMEOUT); absent: 2 s. */
  replicaWaitMs?: number;
}

export const SPEED_DEFAULTS = {
  partitionsConcurrently: 6,
  partitionsPerRound: 6,
  maxBytesPerPartition: 8 * 1024 * 1024,
  maxWaitMs: 100,
  epochCheckMs: 2_000,
  rebuildLeaseMs: 30_000,
  rebuildTailMs: 10 * 60_000,
} as const;

export function speedOptions(config: ConfigValues, overrides: Partial<SpeedOptions> = {}): SpeedOptions {
  return {
    topic: config.EVENTS_TOPIC,
    groupId: config.SPEED_GROUP,
    keyPrefix: config.SPEED_KEY_PREFIX,
    ttlMs: config.SPEED_TTL,
    sessionIdleMs: config.SESSION_IDLE_TIMEOUT,
    sessionTimeoutMs: config.SPEED_SESSION_TIMEOUT,
    watermarkRefreshMs: config.SPEED_WATERMARK_REFRESH,
    commitIntervalMs: config.SPEED_COMMIT_INTERVAL,
    maxMembers: config.SPEED_MAX_MEMBERS,
    dedupeMs: config.SPEED_DEDUPE_WINDOW,
    replicaWaitMs: config.REDIS_WAIT_TIMEOUT,
    ...SPEED_DEFAULTS,
    ...overrides,
  };
}
