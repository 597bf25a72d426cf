/** Entry point of the lake archiver: `node --import tsx batch/archiver.main.ts`. */
import { loadConfig } from '../core/config.ts';
import { createKafka } from '../core/clients.ts';
import { pipelineTopics, topicPolicy, topicsService } from '../core/kafka-topics.ts';
import { stopSoonWithoutBroker } from '../core/kafka-probe.ts';
import { DiskGuard } from '../core/disk-guard.ts';
import { runServices, type Service } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics, MetricsServer } from '../core/metrics.ts';
import { CircuitBreaker, DEFAULT_BREAKER, DeadLetterWriter } from '../dlq/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { LakeArchiver } from '../batch/index.ts';
import { archiverOptions } from '../batch/index.ts';
import { guardDataFormats } from './data-format.guard.ts';

export async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'lake-archiver');
  await guardDataFormats(config, { role: 'lake-archiver', stores: ['data-dir'], logger });
  const metrics = new Metrics('twinlane_', { defaultMetrics: true });
  const kafka = createKafka(config, logger, 'lake');
  const codec = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), config.EVENTS_TOPIC);
  const deadLetters = new DeadLetterWriter({ kafka, topic: config.DLQ_TOPIC, logger, metrics, reporter: 'lake' });
  const breaker = new CircuitBreaker({ consumer: 'lake', ...DEFAULT_BREAKER, metrics, logger });
  const diskGuard = new DiskGuard({ name: 'lake', path: config.DATA_DIR, minFreeBytes: config.DISK_MIN_FREE, intervalMs: config.DISK_CHECK_INTERVAL, logger, metrics });
  const archiver = new LakeArchiver(
    {
      kafka,
      codec,
      deadLetters,
      breaker,
      diskGuard,
      logger,
      metrics,
      onFatal: (err) => {
        logger.fatal({ event: 'lake_archiver_fatal', err }, 'the archiver cannot continue safely; exiting so it restarts from the committed offsets');
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      },
    },
    archiverOptions(config),
  );
  const server = new MetricsServer(metrics, config.LAKE_METRICS_PORT, undefined, () => diskGuard.readiness());
  const http: Service = { name: 'lake-metrics', start: () => server.start(), stop: () => server.stop() };
  const topics = pipelineTopics(config);
  // Without a broker the roll's offsets cannot be committed: its records are read again after a restart.
  await runServices([topicsService(kafka, [topics.events, topics.dlq], topicPolicy(config), logger), diskGuard, archiver, http], logger, { stopDeadline: stopSoonWithoutBroker(config.KAFKA_BROKERS) });
  logger.info({ event: 'lake_archiver_ready', topic: config.EVENTS_TOPIC, group: config.LAKE_GROUP, data_dir: config.DATA_DIR, metrics_port: server.address() });
}

await main();
