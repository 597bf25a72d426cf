/**
 * A real pipeline for the serving layer's integration tests and benchmark: events go to a
 * UUID-named Kafka topic, the real lake archiver and the real speed consumer read it (their
 * own groups), and the real batch job computes the days asked for. The serving layer then
 * reads Redis and the Parquet views exactly as in production. Everything it creates is
 * registered with testing/helpers.ts for clean-up.
 */
import type { PropertyKeys } from '../../speed/index.ts';
import type { RedisClient } from '../../core/redis-client.ts';
import { BatchReader, LakeArchiver, runBatch, type RunRecord } from '../../batch/index.ts';
import type { ConfigValues } from '../../core/config.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { Metrics } from '../../core/metrics.ts';
import { DeadLetterWriter } from '../../dlq/index.ts';
import { EventCodec, type TwinlaneEvent } from '../../schemas/index.ts';
import { SpeedConsumer, SpeedReader, speedOptions, SpeedKeys } from '../../speed/index.ts';
import type { SpeedViews } from '../types.ts';
import { createTopic, kafkaClient, onCleanup, tempDir, testRedis, uniqueName, waitUntil } from '../../testing/helpers.ts';
import { MemoryRegistryClient } from '../../schemas/index.ts';

export interface PipelineFixture {
  dataDir: string;
  redis: RedisClient;
  /** The speed reader as the serving layer wires it. */
  speed: SpeedViews;
  batch: BatchReader;
  /** Runs the real batch job over these days (YYYY-MM-DD) and publishes a new version. */
  runBatchFor(days: string[]): Promise<RunRecord>;
}

export interface PipelineOptions {
  events: readonly TwinlaneEvent[];
  /** Speed TTL and retention: events older than this are skipped by the speed consumer. */
  speedTtlMs: number;
  timeoutMs?: number;
  /** Archiver roll age: short in tests (fresh files fast), longer for bulk loads (fewer, larger rolls). */
  rollAgeMs?: number;
  rollRows?: number;
  /** Consumer session timeout: a bulk roll over many hour partitions on a busy machine takes long. */
  sessionTimeoutMs?: number;
  log?: (line: string) => void;
  /** Logger of the archiver and the speed consumer (silent by default). */
  logger?: Logger;
  /** The sites' listed custom property keys the speed consumer keeps values of (none by default). */
  propertyKeys?: PropertyKeys;
}

async function counterValue(metrics: Metrics, name: string): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  return m ? (await m.get()).values.reduce((n, v) => n + v.value, 0) : 0;
}

async function produce(config: ConfigValues, codec: EventCodec, topic: string, events: readonly TwinlaneEvent[]): Promise<void> {
  await codec.init();
  const producer = kafkaClient(config).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 5_000) {
      await producer.send({ topic, acks: -1, messages: events.slice(i, i + 5_000).map((e) => ({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) })) });
    }
  } finally {
    await producer.disconnect();
  }
}

export async function startPipeline(config: ConfigValues, o: PipelineOptions): Promise<PipelineFixture> {
  const log = o.log ?? (() => undefined);
  const topic = await createTopic(config, 'serving-events', 3);
  const dlqTopic = await createTopic(config, 'serving-dlq', 1);
  const dataDir = tempDir('serving');
  const { redis, prefix } = testRedis(config);
  const kafka = kafkaClient(config);
  const registry = new MemoryRegistryClient();
  const logger = o.logger ?? silentLogger();
  let fatal: unknown;
  const onFatal = (err: unknown) => (fatal ??= err);
  const metrics = new Metrics('fx_');
  const deadLetters = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics });
  const keyPrefix = prefix + 'speed';
  const options = speedOptions(config, { topic, groupId: uniqueName('speed'), keyPrefix, ttlMs: o.speedTtlMs, sessionTimeoutMs: o.sessionTimeoutMs ?? 10_000 });
  // No watermark for the speed consumer: it keeps both sides of W, so the merge rule is what decides.
  const consumer = new SpeedConsumer({ kafka, redis, codec: new EventCodec(registry, topic), deadLetters, watermark: { watermark: async () => null }, logger, metrics, options, onFatal, ...(o.propertyKeys ? { propertyKeys: o.propertyKeys } : {}) });
  const archiverGroup = uniqueName('lake');
  const archiver = new LakeArchiver(
    { kafka, codec: new EventCodec(registry, topic), deadLetters, logger, metrics, onFatal },
    { topic, groupId: archiverGroup, dataDir, rollRows: o.rollRows ?? 50_000, rollAgeMs: o.rollAgeMs ?? 500, duckdb: { memoryLimit: '1GB', threads: 1 }, tickMs: 100, sessionTimeoutMs: o.sessionTimeoutMs ?? 10_000 },
  );
  await deadLetters.start();
  await Promise.all([consumer.start(), archiver.start()]);
  const stopAll = async () => {
    await Promise.allSettled([consumer.stop(), archiver.stop()]);
    await deadLetters.stop();
  };
  try {
    const started = Date.now();
    await produce(config, new EventCodec(registry, topic), topic, o.events);
    log(`produced ${o.events.length} events in ${Date.now() - started} ms`);
    // Both consumers commit only after their write is durable, so committed = end offsets means done
    // (counting written events would be fooled by a redelivery after a rebalance).
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      const caughtUp = async (groupId: string) => {
        if (fatal) throw new Error(`the pipeline stopped: ${String((fatal as Error).message ?? fatal)}`);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      };
      await waitUntil(`the lake archiver and the speed consumer at the end of ${topic}`, async () => (await caughtUp(archiverGroup)) && (await caughtUp(options.groupId)), o.timeoutMs ?? 90_000, 250);
    } finally {
      await admin.disconnect();
    }
    log(`lake and speed store filled after ${Date.now() - started} ms (lake ${await counterValue(metrics, 'fx_lake_events_total')} rows, speed ${await counterValue(metrics, 'fx_speed_events_applied_total')} events)`);
  } finally {
    await stopAll();
  }
  const batch = new BatchReader({ dataDir, duckdb: { memoryLimit: '512MB', threads: 2 } });
  onCleanup(() => batch.close());
  return {
    dataDir,
    redis,
    speed: new SpeedReader({ redis, keys: new SpeedKeys(keyPrefix), ttlMs: o.speedTtlMs }),
    batch,
    runBatchFor: (days) => runBatch({ options: { dataDir, versionsKeep: 5, duckdb: { memoryLimit: '512MB', threads: 2 } } }, { dates: days }),
  };
}
