/** Entry point of the scheduler: `node --import tsx orchestration/scheduler.main.ts` (or `twinlane scheduler start`). */
import { loadConfig } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import { runServices, type Service } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics, MetricsServer } from '../core/metrics.ts';
import { schedulerOptions } from '../orchestration/index.ts';
import { createScheduler } from './scheduler.factory.ts';
import { buildJobPorts } from './job-ports.ts';
import { guardDataFormats } from './data-format.guard.ts';

export async function runScheduler(o: { catchUp?: boolean } = {}): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'scheduler');
  // A service: it refuses older data rather than migrating it under running archivers.
  await guardDataFormats(config, { role: 'scheduler', stores: ['data-dir', 'speed-store'], logger });
  const metrics = new Metrics('twinlane_', { defaultMetrics: true });
  const ports = await buildJobPorts(config, logger);
  const built = createScheduler(schedulerOptions(config), ports, logger, metrics, o.catchUp === undefined ? {} : { catchUp: o.catchUp });
  for (const m of built.missing) logger.warn({ event: 'job_not_scheduled', job: m });
  const server = new MetricsServer(metrics, config.SCHEDULER_METRICS_PORT);
  // runServices stops in reverse order: HTTP first, then the scheduler (drains runs), then the clients.
  const clients: Service = { name: 'scheduler-clients', start: async () => undefined, stop: () => ports.close() };
  const http: Service = { name: 'scheduler-metrics', start: () => server.start(), stop: () => server.stop() };
  await runServices([clients, built.scheduler, http], logger);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runScheduler().catch((err: unknown) => {
    console.error(`scheduler: ${errorMessage(err)}`);
    process.exit(1);
  });
}
