/**
 * Entry point of the speed consumer: `node --import tsx speed/speed.main.ts` (or `twinlane speed run`).
 * Builds every client from configuration, serves /metrics on SPEED_METRICS_PORT and stops
 * gracefully on SIGINT/SIGTERM. `createSpeedRuntime` is shared with the CLI's rebuild.
 */
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { createKafka, createRedis } from '../core/clients.ts';
import { loadConfig, type ConfigValues } from '../core/config.ts';
import type { Service } from '../core/lifecycle.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { Metrics, MetricsServer } from '../core/metrics.ts';
import type { WatermarkSource } from '../core/views.ts';
import { BatchReader } from '../batch/index.ts';
import { CircuitBreaker, DEFAULT_BREAKER, DeadLetterWriter } from '../dlq/index.ts';
import { ConfluentRegistryClient } from '../schemas/event.codec.ts';
import { SpeedConsumer } from '../speed/events.consumer.ts';
import { SpeedMaintenance } from '../speed/maintenance.job.ts';
import { speedOptions, type SpeedOptions } from '../speed/options.ts';
import { SpeedKeys } from '../speed/redis.keys.ts';
import { SpeedReader } from '../speed/speed.reader.ts';

export interface SpeedRuntime {
  kafka: Kafka;
  redis: Redis;
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
  const keys = new SpeedKeys(options.keyPrefix);
  const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
  const deadLetters = new DeadLetterWriter({ kafka, topic: config.DLQ_TOPIC, logger, metrics });
  const breaker = new CircuitBreaker({ consumer: 'speed', ...DEFAULT_BREAKER, metrics, logger });
  const watermark = watermarkSource(config);
  const consumer = new SpeedConsumer({ kafka, redis, registry, deadLetters, breaker, watermark, logger, metrics, options, ...(onFatal ? { onFatal } : {}) });
  const services: Service[] = [
    { name: 'redis', start: async () => undefined, stop: async () => void (await redis.quit().catch(() => redis.disconnect())) },
    { name: 'dead-letter-writer', start: () => deadLetters.start(), stop: () => deadLetters.stop() },
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

export async function main(config: ConfigValues = loadConfig()): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'speed');
  const runtime = await createSpeedRuntime(config, logger, (err) => {
    // Circuit open or a crash kafkajs will not restart: stop everything and exit non-zero.
    logger.fatal({ event: 'speed_consumer_fatal', err });
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  });
  const metricsServer = new MetricsServer(runtime.metrics, config.SPEED_METRICS_PORT);
  await runServices([...runtime.services, { name: 'metrics-server', start: () => metricsServer.start(), stop: () => metricsServer.stop() }], logger);
  logger.info({ event: 'speed_metrics_listening', port: metricsServer.address() });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
