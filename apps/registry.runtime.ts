/** Builds and runs the bundled registry from configuration (entry point and `twinlane schemas serve`). */
import { createKafka } from '../core/clients.ts';
import type { ConfigValues } from '../core/config.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { RegistryServer } from '../schemas/index.ts';
import { KafkaRegistryStore } from '../schemas/index.ts';

export async function runRegistry(config: ConfigValues, options: { port?: number; host?: string } = {}): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'registry');
  const metrics = new Metrics('twinlane_', { defaultMetrics: true });
  const store = new KafkaRegistryStore({ kafka: createKafka(config, logger, 'registry'), topic: config.REGISTRY_TOPIC, logger, metrics });
  const server = new RegistryServer({ store, metrics, logger, port: options.port ?? config.REGISTRY_PORT, host: options.host });
  // Store first: the HTTP server opens only once the log has been read to its end.
  await runServices([store, server], logger);
}
