/** The batch part's ports: batch run, lake compaction, lake and view-version retention, and the batch view reader (for drift). */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { ViewReader } from '../core/views.ts';
import { BatchReader, ViewsStore, batchOptions, compactDay, formatDay, lakeDays, lakePaths, parseDay, runBatch } from '../batch/index.ts';
import type { BatchPort, CompactionPort, RetentionTarget } from '../orchestration/index.ts';

/** Hourly compaction looks this far back: late files can land in any hour of the last days. */
const COMPACTION_LOOKBACK_DAYS = 3;

export interface BatchPorts {
  batch: BatchPort;
  compaction: CompactionPort;
  reader: ViewReader;
  retention: RetentionTarget[];
  close(): Promise<void>;
}

export function batchPorts(config: ConfigValues, logger: Logger): BatchPorts {
  const options = batchOptions(config);
  const views = new ViewsStore(config.DATA_DIR);
  const reader = new BatchReader({ dataDir: config.DATA_DIR, duckdb: { memoryLimit: '1GB', threads: 2 } });
  const batch: BatchPort = {
    async run({ until }) {
      const previousWatermark = views.pointer()?.watermark ?? null;
      const record = await runBatch({ options, logger }, { dirty: true, ...(until !== undefined ? { until } : {}) });
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
  const compaction: CompactionPort = {
    async compact({ signal }) {
      const since = formatDay(Date.now() - COMPACTION_LOOKBACK_DAYS * 86_400_000);
      const result = { partitions: 0, filesBefore: 0, filesAfter: 0, rows: 0 };
      for (const day of lakeDays(config.DATA_DIR).filter((d) => d >= since)) {
        signal.throwIfAborted();
        for (const r of await compactDay({ dataDir: config.DATA_DIR, duckdb: options.duckdb }, day)) {
          if (r.filesBefore === r.filesAfter) continue;
          result.partitions++;
          result.filesBefore += r.filesBefore;
          result.filesAfter += r.filesAfter;
          result.rows += r.rows;
        }
      }
      return result;
    },
  };
  const lake: RetentionTarget = {
    store: 'lake',
    async purge(now) {
      const cutoff = formatDay(now - config.RETENTION_LAKE);
      const old = lakeDays(config.DATA_DIR).filter((d) => d < cutoff && parseDay(d) < now);
      for (const d of old) rmSync(join(lakePaths(config.DATA_DIR).events, `dt=${d}`), { recursive: true, force: true });
      return { removed: old.length, items: old.map((d) => `lake dt=${d}`) };
    },
  };
  const versions: RetentionTarget = {
    store: 'batch-versions',
    async purge() {
      const r = views.prune(config.BATCH_VERSIONS_KEEP);
      return { removed: r.versions.length, items: r.versions.map((v) => `batch version ${v}`) };
    },
  };
  return { batch, compaction, reader, retention: [lake, versions], close: () => reader.close() };
}
