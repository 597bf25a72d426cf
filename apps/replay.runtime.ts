/**
 * Builds the replay's real dependencies from configuration: the store, the schema registry
 * and codec, the collector's EventPipeline (the same validation as at collection) and an
 * idempotent producer to the events topic that waits for all in-sync replicas; and the route of
 * imports' letters (transfer/): checked as imported rows, landed in the lake as imported history.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Partitioners, type Kafka } from 'kafkajs';
import { createKafka } from '../core/clients.ts';
import type { ConfigValues } from '../core/config.ts';
import { DependencyError, UsageError, errorMessage } from '../core/errors.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { ensureTopicsWith, topicPolicy } from '../core/kafka-topics.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites, type Sites } from '../core/sites.ts';
import { ErasureList } from '../core/erasure.list.ts';
import { collectorOptions, createEventPipeline, EventEnricher, IpHasher, UserAgentParser } from '../ingest/index.ts';
import { ImportLetterRoute, transferOptions } from '../transfer/index.ts';
import { ConfluentRegistryClient, EVENT_SCHEMA, EventCodec, type RegistryClient } from '../schemas/index.ts';
import { DeadLetterReplayer, type ReplayOptions, type ReplaySink, type ReplaySummary } from '../dlq/index.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { RecordPreparer, type Transform } from '../dlq/index.ts';

export interface ReplayWiring {
  kafka: Kafka;
  registry: RegistryClient;
  sites: Sites;
  store: DeadLetterStore;
  eventsTopic: string;
  logger: Logger;
  metrics: Metrics;
}

/** Runs one replay with the given parts; connects and disconnects the producer around it. */
export async function replayWith(w: ReplayWiring, config: ConfigValues, options: ReplayOptions): Promise<ReplaySummary> {
  // A missing events topic is created (KAFKA_CREATE_TOPICS) or named, before anything is sent or
  // marked; a producer would otherwise retry an unknown topic-partition until it times out.
  if (!options.dryRun) await ensureTopicsWith(w.kafka, [{ topic: w.eventsTopic, numPartitions: config.EVENTS_PARTITIONS }], topicPolicy(config));
  const codec = new EventCodec(w.registry, w.eventsTopic);
  if (!options.dryRun) await codec.init();
  else await codec.init().catch((err: unknown) => w.logger.warn({ event: 'dlq_dry_run_registry', err }));
  const pipeline = createEventPipeline({ codec, sites: w.sites, options: collectorOptions(config), metrics: w.metrics });
  const preparer = new RecordPreparer({ pipeline, codec, registry: w.registry, readerSchema: EVENT_SCHEMA });
  const producer = w.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: KAFKA_RETRY.DLQ_PRODUCER });
  const sink: ReplaySink = {
    async send(messages) {
      try {
        await producer.send({ topic: w.eventsTopic, acks: -1, messages });
      } catch (err) {
        throw new DependencyError('REPLAY_SEND_FAILED', `Kafka did not acknowledge ${messages.length} replayed events: ${(err as Error).message}`, err);
      }
    },
  };
  // Imports' letters are history: the import's mapping (no clock-skew window), into the lake where imported events land.
  const imports = new ImportLetterRoute({
    dataDir: config.DATA_DIR,
    sites: w.sites,
    erasures: new ErasureList(config.DATA_DIR, config.ERASURE_REFRESH),
    enricher: new EventEnricher({ userAgents: new UserAgentParser(10_000), ipHasher: new IpHasher(config.IP_SALT_ROTATION) }),
    codec,
    duckdb: transferOptions(config).importDuckdb,
    logger: w.logger,
  });
  if (!options.dryRun) await producer.connect();
  try {
    await w.store.open();
    return await new DeadLetterReplayer({ store: w.store, preparer, sink, routes: [imports], logger: w.logger, metrics: w.metrics }).replay(options);
  } finally {
    await imports.close();
    if (!options.dryRun) await producer.disconnect();
  }
}

/** `dlq replay` from configuration. */
export async function runReplay(config: ConfigValues, options: ReplayOptions): Promise<ReplaySummary> {
  const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'dlq-replay');
  const store = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
  try {
    return await replayWith(
      {
        // kafkajs warns about its idempotent producer's bounded retries on every start; a CLI shows errors only.
        kafka: createKafka(config, logger.child({}, { level: 'error' }), 'dlq-replay'),
        registry: new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL),
        sites: loadSites(config.SITES_FILE),
        store,
        eventsTopic: config.EVENTS_TOPIC,
        logger,
        metrics: new Metrics(),
      },
      config,
      options,
    );
  } finally {
    store.close();
  }
}

/** Loads `--transform ./file.ts`: its default export or a named `transform` function. */
export async function loadTransform(path: string): Promise<Transform> {
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError('TRANSFORM_NOT_FOUND', `transform file ${file} does not exist`);
  let mod: Record<string, unknown>;
  try {
    // A TypeScript transform loads with tsx's loader registered for it, however the CLI itself runs
    // (from the sources with tsx, or compiled: the tests start a bundle of the CLI).
    const unregister = /\.[cm]?ts$/.test(file) ? (await import('tsx/esm/api')).register() : undefined;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } finally {
      await unregister?.();
    }
  } catch (err) {
    throw new UsageError('TRANSFORM_INVALID', `could not load the transform ${file}: ${errorMessage(err)}`);
  }
  const fn = typeof mod.default === 'function' ? mod.default : mod.transform;
  if (typeof fn !== 'function') throw new UsageError('TRANSFORM_INVALID', `${file} exports no function: export default (record) => repaired, or export function transform(record)`);
  return fn as Transform;
}
