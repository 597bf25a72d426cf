/**
 * Entry point of the collector: `node --import tsx apps/collector.main.ts` (or `twinlane ingest
 * collector`). With COLLECTOR_PROCESSES > 1 this process becomes the primary of a node:cluster
 * and every worker runs this same entry point as one collector (collector.cluster.ts).
 */
import cluster from 'node:cluster';
import { loadConfig } from '../core/config.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { collectorProcesses, joinCollectorCluster, runCollectorPrimary, WorkerMetrics } from './collector.cluster.ts';
import { createCollectorFromConfig, type CollectorOverrides } from './collector.runtime.ts';

const STOP_TIMEOUT_MS = 15_000;

export async function runCollector(overrides: CollectorOverrides = {}): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'collector');
  const processes = collectorProcesses(config.COLLECTOR_PROCESSES);
  if (cluster.isPrimary && processes > 1) return runCollectorPrimary({ processes, logger, stopTimeoutMs: STOP_TIMEOUT_MS });
  const metrics = cluster.isWorker ? new WorkerMetrics('twinlane_', { defaultMetrics: true }) : undefined;
  const worker = metrics ? joinCollectorCluster(metrics) : undefined;
  const collector = createCollectorFromConfig(config, overrides, metrics);
  await runServices([collector], logger, { stopTimeoutMs: STOP_TIMEOUT_MS });
  worker?.ready();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCollector().catch((err: unknown) => {
    console.error(`collector: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
