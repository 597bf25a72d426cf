/** The batch part's ports: batch run, lake compaction, lake and view-version retention, and the batch view reader (for drift). */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { ViewReader } from '../core/views.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadSites } from '../core/sites.ts';
import { BatchReader, ViewsStore, batchOptions, retentionTiers, trimViews, compactDay, coveredThrough, dirtyParts, formatDay, lagging, lakeDays, lakePaths, parseDay, partEnd, readProgress, runBatch, type PartitionCoverage } from '../batch/index.ts';
import { createKafka } from '../core/clients.ts';
import { DependencyError, TwinlaneError, errorMessage } from '../core/errors.ts';
import type { BatchPort, CompactionPort, RetentionTarget } from '../orchestration/index.ts';

/** Hourly compaction looks this far back: late files can land in any hour of the last days. */
const COMPACTION_LOOKBACK_DAYS = 3;

/** The nightly batch held back days the lake archiver does not cover yet: a later run can pass. */
export class LakeIncompleteError extends TwinlaneError {
  constructor(readonly days: string[], detail: string, readonly version: string | null) {
    // The wait was the retry: the next scheduled run tries again.
    super('LAKE_INCOMPLETE', `not published: ${days.join(', ')}: the lake archiver does not cover their end yet (${detail})${version ? `; ${version} holds the complete days before them` : ''}`, { retriable: false });
  }
}

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
  const kafka = createKafka(config, logger, 'batch');
  /** Every partition of the events topic: its high watermark and how far the lake archiver got. */
  const coverage = async (): Promise<PartitionCoverage[]> => {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const progress = readProgress(config.DATA_DIR, config.EVENTS_TOPIC);
      return (await admin.fetchTopicOffsets(config.EVENTS_TOPIC)).map((o) => ({ partition: o.partition, high: BigInt(o.high), ...(progress.has(o.partition) ? { progress: progress.get(o.partition)! } : {}) }));
    } catch (err) {
      throw new DependencyError('LAKE_COVERAGE_UNKNOWN', `cannot tell whether the lake covers the days to publish: reading the offsets of ${config.EVENTS_TOPIC} from Kafka failed: ${errorMessage(err)}`, err);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  const batch: BatchPort = {
    async run({ until, signal }) {
      const previousWatermark = views.pointer()?.watermark ?? null;
      // Publish only complete days: wait (within BATCH_COMPLETE_WAIT) until the lake covers the end
      // of every dirty day plus the allowed lateness on every partition; what is still short is held.
      const lastEnd = () => Math.max(-Infinity, ...dirtyParts(config.DATA_DIR, views.current(), Date.now(), until).map(partEnd));
      const deadline = Date.now() + config.BATCH_COMPLETE_WAIT;
      let partitions = await coverage();
      while (coveredThrough(partitions, Date.now()) - config.BATCH_ALLOWED_LATENESS < lastEnd() && Date.now() < deadline) {
        await sleep(Math.min(5_000, Math.max(0, deadline - Date.now())), undefined, { signal });
        partitions = await coverage();
      }
      const completeBefore = coveredThrough(partitions, Date.now()) - config.BATCH_ALLOWED_LATENESS;
      const record = await runBatch({ options, logger, sites: loadSites(config.SITES_FILE) }, { dirty: true, completeBefore, ...(until !== undefined ? { until } : {}) });
      if (record.status === 'failed') throw new Error(`batch run ${record.runId} failed: ${record.errors.join('; ')}`);
      if (record.held?.length) {
        // The partitions short of the first held day's end plus the lateness.
        const behind = lagging(partitions, record.heldUntil! + config.BATCH_ALLOWED_LATENESS, Date.now());
        const detail = behind.map((p) => `partition ${p.partition} archived through ${Number.isFinite(p.archivedThrough) ? new Date(p.archivedThrough).toISOString() : 'nothing'}, ${p.behind} records behind`).join('; ');
        logger.error({ event: 'batch_lake_incomplete', alert: true, days: record.held, partitions: behind, waited_ms: config.BATCH_COMPLETE_WAIT }, `not published: ${record.held.join(', ')}; the lake archiver does not cover their end plus ${config.BATCH_ALLOWED_LATENESS / 60_000} min yet (${detail}); serving keeps the speed layer's numbers for them`);
        throw new LakeIncompleteError(record.held, detail, record.version);
      }
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
  // Before the lake: a day's month views are computed from its events before they go (batch/views.retention.ts).
  const tiers: RetentionTarget = {
    store: 'batch-views',
    async purge(now) {
      const r = await trimViews({ dataDir: config.DATA_DIR, tiers: retentionTiers(config), duckdb: options.duckdb, sites: loadSites(config.SITES_FILE), logger }, now);
      return { removed: r.items.length, items: [...(r.version ? [`batch version ${r.version} (tiers recorded)`] : []), ...r.monthsComputed.map((m) => `month views ${m}`), ...r.items] };
    },
  };
  const versions: RetentionTarget = {
    store: 'batch-versions',
    async purge() {
      const r = views.prune(config.BATCH_VERSIONS_KEEP);
      return { removed: r.versions.length, items: r.versions.map((v) => `batch version ${v}`) };
    },
  };
  return { batch, compaction, reader, retention: [tiers, lake, versions], close: () => reader.close() };
}
