/**
 * Entry point of the speed consumer: `node --import tsx apps/speed.main.ts` (or `twinlane speed run`).
 * Builds every client from configuration, serves /metrics on SPEED_METRICS_PORT and stops
 * gracefully on SIGINT/SIGTERM.
 */
import { loadConfig, type ConfigValues } from '../core/config.ts';
import { stopSoonWithoutBroker } from '../core/kafka-probe.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { MetricsServer } from '../core/metrics.ts';
import { guardDataFormats } from './data-format.guard.ts';
import { createSpeedRuntime } from './speed.runtime.ts';

export async function main(config: ConfigValues = loadConfig()): Promise<void> {
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'speed');
  // The speed store it writes, and DATA_DIR whose batch watermark W it reads.
  await guardDataFormats(config, { role: 'speed', stores: ['speed-store', 'data-dir'], logger });
  const runtime = await createSpeedRuntime(config, logger, (err) => {
    // Circuit open or a crash kafkajs will not restart: stop everything and exit non-zero.
    logger.fatal({ event: 'speed_consumer_fatal', err });
    process.exitCode = 1;
    process.kill(process.pid, 'SIGTERM');
  });
  const metricsServer = new MetricsServer(runtime.metrics, config.SPEED_METRICS_PORT);
  await runServices([...runtime.services, { name: 'metrics-server', start: () => metricsServer.start(), stop: () => metricsServer.stop() }], logger, {
    stopDeadline: stopSoonWithoutBroker(config.KAFKA_BROKERS),
  });
  logger.info({ event: 'speed_metrics_listening', port: metricsServer.address() });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
