/**
 * Entry point of the bundled schema registry (started by `make stack-up`):
 * reads `_schemas` to its end, then serves the Confluent REST API on REGISTRY_PORT.
 */
import { createKafka } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { RegistryServer } from './registry.server.ts';
import { KafkaRegistryStore } from './registry.store.ts';

const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'registry');
const metrics = new Metrics('twinlane_', { defaultMetrics: true });
const store = new KafkaRegistryStore({ kafka: createKafka(config, logger, 'registry'), topic: config.REGISTRY_TOPIC, logger, metrics });
const server = new RegistryServer({ store, metrics, logger, port: config.REGISTRY_PORT });
await runServices([store, server], logger);
