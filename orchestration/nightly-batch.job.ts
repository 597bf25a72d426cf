/**
 * The nightly batch job: one batch run (batch/), then, when the watermark W moved, the drift
 * comparison over the newly covered buckets and the retirement of the speed keys before W,
 * so batch data has physically replaced speed data there (with BATCH_VIEWS_STORE=clickhouse both
 * wait for the `views` step, which publishes the version serving reads); after every successful
 * run, the warehouse step (ClickHouse), last and independent: its failure holds back nothing, and
 * nothing's failure holds it back.
 * Follow-ups are separate ledger runs.
 */
import { Calendar } from '../core/calendar.ts';
import type { BatchPort, JobDefinition, JobOutput, SpeedRetirePort, ViewsPublishPort, WarehousePort } from './types.ts';
import { viewsJob } from './views.job.ts';
import { warehouseJob } from './warehouse.job.ts';
import { driftJob, type DriftDeps } from './drift.job.ts';
import type { SchedulerMetrics } from './scheduler.metrics.ts';

export interface BatchJobDeps {
  batch: BatchPort;
  /** Absent when the speed layer is not wired (then neither drift nor retire runs). */
  drift?: DriftDeps;
  speed?: SpeedRetirePort;
  /** Absent when no ClickHouse warehouse is configured. */
  warehouse?: WarehousePort;
  /**
   * Present when serving reads the batch views from ClickHouse: the version is published there
   * after every successful run, and drift and speed retirement wait for it (serving's W is the
   * published one).
   */
  views?: ViewsPublishPort;
  schedulerMetrics: SchedulerMetrics;
  /**
   * The sites' time zone this schedule runs for (contract 9): its run also computes the current UTC
   * day up to the zone's local midnight that has just passed, so those sites' day is in batch
   * without waiting for the UTC day to end. Absent: complete UTC days only.
   */
  zone?: string;
}

/** The span the run newly covered: from the previous W (or its first day) to the new W. */
export function newlyCovered(result: { days: string[]; previousWatermark: number | null; watermark: number | null }): { from: number; to: number } | undefined {
  if (result.watermark === null) return undefined;
  const firstDay = result.days.length ? Math.min(...result.days.map((d) => Date.parse(`${d}T00:00:00Z`))) : undefined;
  const from = result.previousWatermark ?? firstDay;
  if (from === undefined || from >= result.watermark) return undefined;
  return { from, to: result.watermark };
}

export function speedRetireJob(speed: SpeedRetirePort, before: number): JobDefinition {
  return {
    name: 'speed-retire',
    async run(): Promise<JobOutput> {
      const { minutesDeleted } = await speed.retireBefore(before);
      return { rows: minutesDeleted, details: { before, beforeIso: new Date(before).toISOString(), minutesDeleted } };
    },
  };
}

export function batchJob(deps: BatchJobDeps): JobDefinition {
  return {
    name: 'batch',
    async run(ctx): Promise<JobOutput> {
      const until = deps.zone ? Calendar.of(deps.zone).floor(ctx.scheduledFor ?? Date.now(), 'day') : undefined;
      const result = await deps.batch.run({ signal: ctx.signal, ...(until !== undefined ? { until } : {}) });
      const span = result.published ? newlyCovered(result) : undefined;
      const next: JobDefinition[] = [];
      const afterServed: JobDefinition[] = [];
      if (span && deps.speed) {
        const retire = speedRetireJob(deps.speed, span.to);
        afterServed.push(deps.drift ? driftJob({ ...deps.drift, schedulerMetrics: deps.schedulerMetrics }, span.from, span.to, [retire]) : retire);
      }
      // After every successful run, published or not, like the warehouse step below.
      if (deps.views) next.push(viewsJob(deps.views, afterServed));
      else next.push(...afterServed);
      // After every successful run, published or not: the step syncs to the current version, so it
      // also makes up for a failed one; nothing before it (drift, publishing the views) holds it back.
      const independent = deps.warehouse ? [warehouseJob(deps.warehouse)] : [];
      const details: Record<string, unknown> = {
        ...(deps.zone ? { zone: deps.zone, until: until === undefined ? null : new Date(until).toISOString() } : {}),
        published: result.published,
        previousWatermark: result.previousWatermark,
        watermark: result.watermark,
        watermarkIso: result.watermark === null ? null : new Date(result.watermark).toISOString(),
      };
      if (result.version !== undefined) details.version = result.version;
      return { days: result.days, rows: result.rows, details, next, independent };
    },
  };
}
