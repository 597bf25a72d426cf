/** The speed consumer's clients and services built from configuration; shared by its entry point, the CLI's rebuild and tests. */
import { existsSync } from 'node:fs';
import { ErasureList } from '../core/erasure.list.ts';
import { loadSites } from '../core/sites.ts';
import { SitesWatcher } from '../core/sites.watcher.ts';
import type { Kafka } from 'kafkajs';
import type { RedisClient } from '../core/redis-client.ts';
import { createKafka, createRedis } from '../core/clients.ts';
import type { ConfigValues } from '../core/config.ts';
import { pipelineTopics, topicPolicy, topicsService } from '../core/kafka-topics.ts';
import type { Service } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { redisMemoryMetrics } from '../core/redis-memory.metrics.ts';
import type { WatermarkSource } from '../core/views.ts';
import { BatchReader } from '../batch/index.ts';
import { CircuitBreaker, DEFAULT_BREAKER, DeadLetterWriter } from '../dlq/index.ts';
import { ConfluentRegistryClient } from '../schemas/index.ts';
import { SpeedConsumer } from '../speed/index.ts';
import { SpeedMaintenance } from '../speed/index.ts';
import { speedOptions, type SpeedOptions } from '../speed/index.ts';
import { SpeedKeys } from '../speed/index.ts';
import { SpeedReader } from '../speed/index.ts';

export interface SpeedRuntime {
  kafka: Kafka;
  redis: RedisClient;
  metrics: Metrics;
  options: SpeedOptions;
  consumer: SpeedConsumer;
  reader: SpeedReader;
  maintenance: SpeedMaintenance;
  watermark: WatermarkSource;
  /** Every service in start order (stopped in reverse). */
  services: Service[];
}

/** W from the batch layer's atomic pointer under DATA_DIR (a small file read; no DuckDB is opened). */
function watermarkSource(config: ConfigValues): WatermarkSource {
  return new BatchReader({ dataDir: config.DATA_DIR });
}

export async function createSpeedRuntime(config: ConfigValues, logger: Logger, onFatal?: (err: unknown) => void): Promise<SpeedRuntime> {
  const options = speedOptions(config);
  const metrics = new Metrics('twinlane_', { defaultMetrics: true, labels: { service: 'speed' } });
  const kafka = createKafka(config, logger, 'speed');
  const redis = createRedis(config);
  redisMemoryMetrics(metrics, redis);
  const keys = new SpeedKeys(options.keyPrefix);
  const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
  const deadLetters = new DeadLetterWriter({ kafka, topic: config.DLQ_TOPIC, logger, metrics, reporter: 'speed' });
  const breaker = new CircuitBreaker({ consumer: 'speed', ...DEFAULT_BREAKER, metrics, logger });
  const watermark = watermarkSource(config);
  // The sites' listed custom property keys are the ones whose values speed keeps (reloaded as the file changes); no sites file: none.
  const sites = existsSync(config.SITES_FILE) ? loadSites(config.SITES_FILE) : undefined;
  const propertyKeys = (site: string): readonly string[] => sites?.get(site)?.properties ?? [];
  const consumer = new SpeedConsumer({ kafka, redis, registry, deadLetters, breaker, watermark, logger, metrics, options, erasures: new ErasureList(config.DATA_DIR, config.ERASURE_REFRESH), propertyKeys, ...(onFatal ? { onFatal } : {}) });
  const topics = pipelineTopics(config);
  const services: Service[] = [
    topicsService(kafka, [topics.events, topics.dlq], topicPolicy(config), logger),
    { name: 'redis', start: async () => undefined, stop: async () => void (await redis.quit().catch(() => redis.disconnect())) },
    { name: 'dead-letter-writer', start: () => deadLetters.start(), stop: () => deadLetters.stop() },
    ...(sites ? [new SitesWatcher({ file: config.SITES_FILE, sites, intervalMs: config.SITES_RELOAD_INTERVAL, logger, metrics })] : []),
    consumer,
  ];
  return {
    kafka,
    redis,
    metrics,
    options,
    consumer,
    reader: new SpeedReader({ redis, keys, ttlMs: options.ttlMs }),
    maintenance: new SpeedMaintenance({ redis, keys, ttlMs: options.ttlMs }),
    watermark,
    services,
  };
}

