/** The batch part's ports: batch run, batch view reader (for drift), view-version retention. */
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { ViewReader } from '../core/views.ts';
import { BatchReader } from '../batch/batch.reader.ts';
import { ViewsStore } from '../batch/views.store.ts';
import { batchOptions } from '../batch/options.ts';
import { runBatch } from '../batch/batch.job.ts';
import type { BatchPort, CompactionPort, RetentionTarget } from './types.ts';

export interface BatchPorts {
  batch?: BatchPort;
  compaction?: CompactionPort;
  reader?: ViewReader;
  retention: RetentionTarget[];
  close(): Promise<void>;
}

export async function batchPorts(config: ConfigValues, logger: Logger): Promise<BatchPorts> {
  const options = batchOptions(config);
  const views = new ViewsStore(config.DATA_DIR);
  const reader = new BatchReader({ dataDir: config.DATA_DIR, duckdb: { memoryLimit: '1GB', threads: 2 } });
  const batch: BatchPort = {
    async run() {
      const previousWatermark = views.pointer()?.watermark ?? null;
      const record = await runBatch({ options, logger }, { dirty: true });
      if (record.status === 'failed') throw new Error(`batch run ${record.runId} failed: ${record.errors.join('; ')}`);
      return {
        published: record.status === 'ok' && record.version !== null,
        days: record.days.map((d) => d.day),
        rows: record.days.reduce((n, d) => n + d.events, 0),
        previousWatermark,
        watermark: record.watermark ?? previousWatermark,
        ...(record.version ? { version: record.version } : {}),
      };
    },
  };
  const versions: RetentionTarget = {
    store: 'batch-versions',
    async purge() {
      const r = views.prune(config.BATCH_VERSIONS_KEEP);
      return { removed: r.versions.length, items: r.versions.map((v) => `batch version ${v}`) };
    },
  };
  return { batch, reader, retention: [versions], close: () => reader.close() };
}
