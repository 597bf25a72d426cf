/**
 * Entry point of the DLQ archiver: `node --import tsx dlq/archiver.main.ts`.
 * Persists every dead letter of DLQ_TOPIC under DATA_DIR/dlq; /metrics on DLQ_METRICS_PORT.
 */
import { join } from 'node:path';
import { createKafka } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { pipelineTopics, topicPolicy, topicsService } from '../core/kafka-topics.ts';
import { stopSoonWithoutBroker } from '../core/kafka-probe.ts';
import { DiskGuard } from '../core/disk-guard.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics, MetricsServer } from '../core/metrics.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { DlqArchiver } from '../dlq/index.ts';
import { dlqArchiverGroup } from '../dlq/index.ts';
import { SiteRateMonitor } from '../dlq/index.ts';
import { SiteRateWatcher } from '../dlq/index.ts';
import { guardDataFormats } from './data-format.guard.ts';

const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'dlq-archiver');
await guardDataFormats(config, { role: 'dlq-archiver', stores: ['data-dir'], logger });
const metrics = new Metrics('twinlane_', { defaultMetrics: true });
const store = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
const kafka = createKafka(config, logger, 'dlq-archiver');
const group = dlqArchiverGroup(config);
const monitor = new SiteRateMonitor({ alertRate: config.DLQ_ALERT_RATE, stage: 'pipeline', metrics, logger });
const watcher = new SiteRateWatcher({ kafka, eventsTopic: config.EVENTS_TOPIC, groupId: `${group}-site-rates`, monitor, logger });
const diskGuard = new DiskGuard({ name: 'dlq', path: config.DATA_DIR, minFreeBytes: config.DISK_MIN_FREE, intervalMs: config.DISK_CHECK_INTERVAL, logger, metrics });
const archiver = new DlqArchiver({
  diskGuard,
  kafka,
  topic: config.DLQ_TOPIC,
  groupId: group,
  onStored: (letters) => watcher.observeLetters(letters),
  store,
  metrics,
  logger,
  breaker: { threshold: config.CIRCUIT_BREAKER_THRESHOLD, minBatch: config.CIRCUIT_BREAKER_MIN_BATCH },
  // The metrics server stays up so the open circuit is visible; an operator restarts after the fix.
  onCircuitOpen: (err) => logger.error({ event: 'dlq_archiver_halted', err: err.message }),
});
const metricsServer = new MetricsServer(metrics, config.DLQ_METRICS_PORT, undefined, () => (archiver.circuitOpen ? { ready: false, reason: 'circuit open: most of a batch had no sound metadata' } : diskGuard.readiness()));
const metricsService = { name: 'metrics', start: () => metricsServer.start(), stop: () => metricsServer.stop() };
const storeService = { name: 'dlq-store', start: () => store.open(), stop: async () => store.close() };

// The watcher reads the events topic's keys, the archiver the dead-letter topic.
const topics = pipelineTopics(config);
await runServices([topicsService(kafka, [topics.events, topics.dlq], topicPolicy(config), logger), storeService, diskGuard, metricsService, watcher, archiver], logger, {
  stopDeadline: stopSoonWithoutBroker(config.KAFKA_BROKERS),
});
logger.info({ event: 'dlq_archiver_ready', topic: config.DLQ_TOPIC, metrics_port: metricsServer.address() });
