/**
 * `twinlane import`: builds an import's dependencies from the configuration (the collector's
 * enrichment parts, the erasure list, the dead-letter store, the sites) and runs it; with
 * `thenBatch` the batch job then computes the days that received files, and the new version is
 * published where the nightly batch publishes it (ClickHouse views, warehouse: batch-publish.ts).
 */
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import { ErasureList } from '../core/erasure.list.ts';
import type { Logger } from '../core/logger.ts';
import { loadSites } from '../core/sites.ts';
import { batchOptions, formatDay, parseDay, runBatch, type RunRecord } from '../batch/index.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { EventEnricher, IpHasher, UserAgentParser } from '../ingest/index.ts';
import { EventCodec, MemoryRegistryClient } from '../schemas/index.ts';
import { runImport, transferOptions, type ImportProgress, type ImportReport, type ImportRequest } from '../transfer/index.ts';
import { publishBatch, type BatchPublishOutcome } from './batch-publish.ts';

export interface ImportCommandDeps {
  config: ConfigValues;
  logger: Logger;
  onProgress?: (p: ImportProgress) => void;
  onBatchProgress?: (done: number, total: number, day: string | null) => void;
}

export interface ImportOutcome {
  report: ImportReport;
  /** The batch run of `--then-batch` (days that are over only). */
  batch?: RunRecord;
  /** After a batch run that did not fail: the ClickHouse views and warehouse, as the nightly batch's steps leave them. */
  published?: BatchPublishOutcome;
}

export async function importHistory(deps: ImportCommandDeps, req: ImportRequest & { thenBatch?: boolean }): Promise<ImportOutcome> {
  const { config, logger } = deps;
  const options = transferOptions(config);
  const letters = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
  await letters.open();
  let report: ImportReport;
  try {
    // The collector's enrichment, built the way collector.service.ts builds it. Imports carry their
    // visitor ids, so the IP hasher's salts are never needed (no client address is imported).
    const enricher = new EventEnricher({ userAgents: new UserAgentParser(10_000), ipHasher: new IpHasher(config.IP_SALT_ROTATION) });
    report = await runImport(
      {
        dataDir: config.DATA_DIR,
        sites: loadSites(config.SITES_FILE),
        erasures: new ErasureList(config.DATA_DIR, config.ERASURE_REFRESH),
        enricher,
        // Only its Avro type is used (the schema check); nothing is encoded or registered.
        codec: new EventCodec(new MemoryRegistryClient(), config.EVENTS_TOPIC),
        letters,
        duckdb: options.importDuckdb,
        chunkRows: options.chunkRows,
        logger,
        ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
      },
      req,
    );
  } finally {
    letters.close();
  }
  if (!req.thenBatch || req.dryRun || report.days.length === 0) return { report };
  // Days still going on are left to the scheduler's next run, like live days.
  const today = formatDay(Date.now());
  const dates = report.days.filter((d) => d < today && parseDay(d) + 86_400_000 <= Date.now());
  if (dates.length === 0) return { report };
  const batch = await runBatch({ options: batchOptions(config), logger, sites: loadSites(config.SITES_FILE), ...(deps.onBatchProgress ? { onProgress: deps.onBatchProgress } : {}) }, { dates });
  if (batch.status === 'failed') return { report, batch };
  // Drift and the speed retirement are left to the nightly run: imported days end before live tracking began, so speed holds nothing of them.
  return { report, batch, published: await publishBatch(config, logger) };
}
