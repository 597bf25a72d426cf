/** Client factories for entry points and test fixtures (nothing else builds clients). */
import { Kafka, logLevel as kafkaLogLevel, type logCreator } from 'kafkajs';
import './kafkajs.idle-fix.ts';
import type { ConfigValues } from './config.ts';
import { newRedisClient, type RedisClient, type RedisClientOptions, type RedisTarget } from './redis-client.ts';
import { KAFKA_RETRY, type KafkaRetryPolicy } from './kafka-retry.ts';
import type { Logger } from './logger.ts';

/** kafkajs logs through our pino logger, at warn and above. */
function kafkaLogCreator(logger: Logger): logCreator {
  return () => ({ level, log }) => {
    const { message, ...extra } = log;
    const payload = { event: 'kafka_client', namespace: extra.namespace ?? undefined, broker: (extra as { broker?: string }).broker, error: (extra as { error?: string }).error };
    if (level <= kafkaLogLevel.ERROR) logger.error(payload, message);
    else if (level <= kafkaLogLevel.WARN) logger.warn(payload, message);
  };
}

/** `retry` is the client-wide policy (admin, metadata); producers and consumers set their own (kafka-retry.ts). */
export function createKafka(config: ConfigValues, logger: Logger, clientSuffix: string, retry: KafkaRetryPolicy = KAFKA_RETRY.CLIENT): Kafka {
  return new Kafka({
    clientId: `${config.KAFKA_CLIENT_ID}-${clientSuffix}`,
    brokers: config.KAFKA_BROKERS,
    logLevel: kafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    retry: { ...retry },
  });
}

/** The configured Redis: a Redis Cluster client when REDIS_CLUSTER_NODES is set (core/redis-client.ts). */
export function redisTarget(config: ConfigValues): RedisTarget {
  return { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES };
}

/** Any other client (tests, benches, commands) with options of its own, of the configured Redis. */
export function redisClientOf(config: ConfigValues, options: RedisClientOptions = { maxRetriesPerRequest: 3 }): RedisClient {
  return newRedisClient(redisTarget(config), options);
}

export function createRedis(config: ConfigValues): RedisClient {
  return redisClientOf(config, { maxRetriesPerRequest: 5, enableAutoPipelining: false, lazyConnect: false });
}

/**
 * The rate limiter's connection: no offline queue and one retry, so while Redis is away a check
 * fails at once (and the request passes) instead of waiting for a reconnect; pipelined, since
 * every request makes a check or two.
 */
export function rateLimitRedis(config: ConfigValues): RedisClient {
  return redisClientOf(config, { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true, lazyConnect: false });
}
