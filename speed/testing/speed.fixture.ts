/**
 * Traffic for the speed tests. Their expected numbers come from the one truth of the test kit
 * (testing/truth.ts), never from here.
 */
import { generateTraffic, type TrafficOptions } from '../../traffic/index.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { rollupSite } from '../rollup.aggregator.ts';
import { EpochStore } from '../epoch.store.ts';
import { RollupWriter, type RollupWriterDeps } from '../rollup.writer.ts';
import type { BatchPosition, OffsetEvent, PropertyKeys } from '../types.ts';
import type { RedisClient } from '../../core/redis-client.ts';
import type { ConfigValues } from '../../core/config.ts';
import { silentLogger } from '../../core/logger.ts';
import { Metrics } from '../../core/metrics.ts';
import { DeadLetterWriter } from '../../dlq/index.ts';
import { EventCodec, MemoryRegistryClient } from '../../schemas/index.ts';
import { createTopic, kafkaClient, uniqueName } from '../../testing/helpers.ts';
import { SpeedConsumer } from '../events.consumer.ts';
import { speedOptions, type SpeedOptions } from '../options.ts';

export function traffic(o: Partial<TrafficOptions> & { events: number }): TwinlaneEvent[] {
  const now = Date.now();
  return [...generateTraffic({ seed: 42, sites: ['alpha', 'beta', 'gamma'], from: now - 60 * 60_000, to: now - 60_000, visitorsPerSite: 3_000, ...o })];
}

/**
 * Fills the speed store the way the consumer does, without Kafka: batches of `batchSize` events
 * as one partition's records, each site's events above its applied offset rolled up
 * (rollup.aggregator.ts) and applied by the compare-and-set script (rollup.writer.ts).
 */
export async function applyEvents(deps: RollupWriterDeps, events: readonly TwinlaneEvent[], batchSize = 1_000, pos: BatchPosition = { topic: 'events', partition: 0 }, propertyKeys: PropertyKeys = () => []): Promise<void> {
  const writer = new RollupWriter(deps);
  // Nothing was lost before these writes: each site's epoch covers everything (as a consumer group
  // reading its topic from the beginning makes it).
  const epochs = new EpochStore(deps.redis, deps.keys);
  for (const site of new Set(events.map((e) => e.site_id))) await epochs.ensure(site, 0, true);
  for (let i = 0; i < events.length; i += batchSize) {
    const bySite = new Map<string, OffsetEvent[]>();
    events.slice(i, i + batchSize).forEach((event, j) => {
      let list = bySite.get(event.site_id);
      if (!list) bySite.set(event.site_id, (list = []));
      list.push({ offset: String(i + j), event });
    });
    const applied = await writer.appliedOffsets([...bySite.keys()], pos);
    const items = [...bySite].flatMap(([site, list]) => {
      const rollup = rollupSite(site, list, applied.get(site) ?? null, propertyKeys(site));
      return rollup ? [{ rollup, expected: applied.get(site) ?? null }] : [];
    });
    const results = await writer.apply(items, pos);
    if (!results.every((r) => r.applied)) throw new Error(`a rollup was not applied: ${JSON.stringify(results)}`);
  }
}

/** A speed consumer on topics of its own (events, dead letters), framing with an in-test registry. */
export interface ConsumerOnTopic {
  consumer: SpeedConsumer;
  metrics: Metrics;
  options: SpeedOptions;
  /** Sends events to the topic (keyed by site and visitor, as the collector does). */
  produce(events: readonly TwinlaneEvent[]): Promise<void>;
  /** A gauge or counter of the consumer by name (without the `twinlane_` prefix); NaN when absent. */
  metric(name: string): Promise<number>;
  /** What stopped the consumer for good, if anything. */
  fatal(): unknown;
  stop(): Promise<void>;
}

export async function consumerOnTopic(config: ConfigValues, redis: RedisClient, o: { name: string; partitions: number; watermark: number | null; options: Partial<SpeedOptions> }): Promise<ConsumerOnTopic> {
  const topic = await createTopic(config, o.name, o.partitions);
  const dlqTopic = await createTopic(config, `${o.name}-dlq`, 1);
  const kafka = kafkaClient(config);
  const registry = new MemoryRegistryClient();
  const codec = new EventCodec(registry, topic);
  await codec.init();
  const options = speedOptions(config, { topic, groupId: uniqueName('speed'), sessionTimeoutMs: 6_000, ...o.options });
  const metrics = new Metrics('twinlane_');
  const logger = silentLogger();
  const deadLetters = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics });
  let fatal: unknown;
  const consumer = new SpeedConsumer({ kafka, redis, registry, deadLetters, watermark: { watermark: async () => o.watermark }, logger, metrics, options, onFatal: (err) => (fatal = err) });
  await consumer.start();
  return {
    consumer,
    metrics,
    options,
    async produce(events) {
      const producer = kafka.producer();
      await producer.connect();
      for (let i = 0; i < events.length; i += 2_000) {
        await producer.send({ topic, messages: events.slice(i, i + 2_000).map((e) => ({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) })) });
      }
      await producer.disconnect();
    },
    metric: async (name) => Number(new RegExp(`^twinlane_${name} (\\d+)`, 'm').exec(await metrics.text())?.[1] ?? NaN),
    fatal: () => fatal,
    async stop() {
      await consumer.stop();
      await deadLetters.stop();
    },
  };
}
