/**
 * Integration-test fixtures: a collector on port 0 writing to UUID-named topics of the real
 * broker, registering its schema in the real registry, and a reader for what landed.
 */
import type { IHeaders } from 'kafkajs';
import type { ConfigValues } from '../../core/config.ts';
import type { Sites } from '../../core/sites.ts';
import { silentLogger } from '../../core/logger.ts';
import { Metrics } from '../../core/metrics.ts';
import { ConfluentRegistryClient } from '../../schemas/index.ts';
import { join } from 'node:path';
import { SitesFile } from '../../core/sites.file.ts';
import { createTopic, kafkaClient, onCleanup, tempDir, uniqueName, waitUntil } from '../../testing/helpers.ts';
import { CollectorService, type CollectorDeps, type CollectorServiceOptions } from '../collector.service.ts';
import { collectorOptions } from '../options.ts';
import { testSites } from './pipeline.fixture.ts';

export interface TestCollector {
  collector: CollectorService;
  eventsTopic: string;
  dlqTopic: string;
  url: string;
}

export async function startTestCollector(
  config: ConfigValues,
  over: { brokers?: string[]; sites?: Sites; tweak?: (o: ReturnType<typeof collectorOptions>) => void; service?: Partial<CollectorServiceOptions>; deps?: Partial<CollectorDeps> } = {},
): Promise<TestCollector> {
  const eventsTopic = await createTopic(config, 'collect', 3);
  const dlqTopic = await createTopic(config, 'collect-dlq', 1);
  const options = collectorOptions(config);
  options.producer.topic = eventsTopic;
  over.tweak?.(options);
  const kafkaConfig = over.brokers ? { ...config, KAFKA_BROKERS: over.brokers } : config;
  const collector = new CollectorService(
    { kafka: kafkaClient(kafkaConfig, uniqueName('collector')), registry: new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), sites: over.sites ?? testSites(), logger: silentLogger(), metrics: new Metrics(), ...over.deps },
    { ...options, port: 0, host: '127.0.0.1', dlqTopic, trustProxy: ['loopback'], ...over.service },
  );
  await collector.start();
  onCleanup(() => collector.stop());
  return { collector, eventsTopic, dlqTopic, url: collector.url };
}

export interface RawMessage {
  key: string | null;
  value: Buffer;
  headers: IHeaders;
  partition: number;
  timestamp: string;
}

/** Reads a topic from the beginning until `count` messages arrived (fails after `timeoutMs`). */
export async function readTopic(config: ConfigValues, topic: string, count: number, timeoutMs = 30_000): Promise<RawMessage[]> {
  return (await readTopics(config, { [topic]: count }, timeoutMs))[topic]!;
}

/** Several topics with one consumer: a group join costs seconds on the broker, so join once. */
export async function readTopics(config: ConfigValues, counts: Record<string, number>, timeoutMs = 30_000): Promise<Record<string, RawMessage[]>> {
  const consumer = kafkaClient(config).consumer({ groupId: uniqueName('test-reader') });
  const out: Record<string, RawMessage[]> = Object.fromEntries(Object.keys(counts).map((t) => [t, []]));
  const complete = () => Object.entries(counts).every(([t, n]) => out[t]!.length >= n);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: Object.keys(counts), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message, partition }) => {
        out[topic]!.push({ key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0), headers: message.headers ?? {}, partition, timestamp: message.timestamp });
      },
    });
    await waitUntil(`messages on ${Object.entries(counts).map(([t, n]) => `${t} (${out[t]!.length}/${n})`).join(', ')}`, complete, timeoutMs);
    // Anything beyond the counts would be a duplicate or a stray: give it a moment to show up.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** A collector process's setup: a sites file with one new site in a temporary folder, and the environment naming it with topics of its own. */
export function collectorProcessEnv(prefix: string, env: Record<string, string>): { site: string; writeKey: string | undefined; topic: string; env: Record<string, string> } {
  const dir = tempDir(prefix);
  const file = join(dir, 'sites.json');
  const site = uniqueName(prefix).toLowerCase().replace(/[^a-z0-9_-]/g, '-');
  const { writeKey } = new SitesFile(file).add({ id: site });
  const topic = uniqueName(`test.${prefix}-events`);
  return { site, writeKey, topic, env: { SITES_FILE: file, DATA_DIR: join(dir, 'data'), EVENTS_TOPIC: topic, DLQ_TOPIC: uniqueName(`test.${prefix}-dlq`), COLLECTOR_RATE_LIMIT_CLIENT: 'off', ...env } };
}
