/** Entry point of the collector: `node --import tsx apps/collector.main.ts` (or `twinlane ingest collector`). */
import { loadConfig } from '../core/config.ts';
import { runServices } from '../core/lifecycle.ts';
import { createLogger } from '../core/logger.ts';
import { createCollectorFromConfig, type CollectorOverrides } from './collector.runtime.ts';

export async function runCollector(overrides: CollectorOverrides = {}): Promise<void> {
  const config = loadConfig();
  const collector = createCollectorFromConfig(config, overrides);
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'collector');
  await runServices([collector], logger);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCollector().catch((err: unknown) => {
    console.error(`collector: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
