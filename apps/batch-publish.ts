/**
 * What the nightly batch's follow-up steps do with a new version, for a batch run made outside the
 * scheduler (`twinlane import … --then-batch`): publish it into ClickHouse when serving reads the
 * views there (the `views` step, BATCH_VIEWS_STORE=clickhouse) and bring the ClickHouse warehouse to
 * it (the `warehouse` step). Each is tried on its own, as in the nightly job: a failure of one holds
 * back neither the other nor the version, and both compare with the current version, so the next
 * run of either makes up for a failed one.
 */
import type { ConfigValues } from '../core/config.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { viewsPublishPorts } from './views-ports.ts';
import { warehousePorts } from './warehouse-ports.ts';

export type PublishStep<T> = { status: 'off' } | ({ status: 'ok' } & T) | { status: 'failed'; error: string };

export interface BatchPublishOutcome {
  /** ClickHouse batch views (off with BATCH_VIEWS_STORE=duckdb: serving reads the batch job's files). */
  views: PublishStep<{ url: string; version: string | null; moved: boolean; dayFolders: number }>;
  /** The ClickHouse warehouse (off unless WAREHOUSE_ENABLED and a ClickHouse). */
  warehouse: PublishStep<{ version?: string; loaded: string[]; dropped: string[]; unchanged: number }>;
}

export async function publishBatch(config: ConfigValues, logger: Logger, signal: AbortSignal = new AbortController().signal): Promise<BatchPublishOutcome> {
  const outcome: BatchPublishOutcome = { views: { status: 'off' }, warehouse: { status: 'off' } };
  const views = viewsPublishPorts(config, logger);
  if (views) {
    try {
      const r = await views.views.publish({ signal });
      outcome.views = { status: 'ok', url: views.options.clickhouse.url, version: r.version, moved: r.moved, dayFolders: r.loaded.length };
    } catch (err) {
      logger.error({ event: 'batch_publish_failed', step: 'views', err }, 'publishing the batch views into ClickHouse failed; serving keeps the version it had');
      outcome.views = { status: 'failed', error: errorMessage(err) };
    } finally {
      await views.close();
    }
  }
  const warehouse = warehousePorts(config, logger);
  if (warehouse) {
    try {
      const r = await warehouse.warehouse.sync({ signal });
      outcome.warehouse = { status: 'ok', ...(r.version !== undefined ? { version: r.version } : {}), loaded: r.loaded.map((d) => d.day), dropped: r.dropped, unchanged: r.unchanged };
    } catch (err) {
      logger.error({ event: 'batch_publish_failed', step: 'warehouse', err }, 'loading the warehouse failed; it keeps the days it had');
      outcome.warehouse = { status: 'failed', error: errorMessage(err) };
    } finally {
      await warehouse.close();
    }
  }
  return outcome;
}

/** What the steps did, one line each (off steps say nothing): the CLI's report. */
export function publishLines(o: BatchPublishOutcome): string[] {
  const lines: string[] = [];
  const v = o.views;
  if (v.status === 'ok') lines.push(`ClickHouse views (${v.url}): serving ${v.version ?? '(none)'}${v.moved ? ' (pointer moved)' : ''}, ${v.dayFolders} day folder(s) copied`);
  if (v.status === 'failed') lines.push(`ClickHouse views: publishing failed, serving keeps the version it had: ${v.error}`);
  const w = o.warehouse;
  if (w.status === 'ok') lines.push(`warehouse: ${w.loaded.length} day(s) loaded, ${w.dropped.length} dropped, ${w.unchanged} unchanged`);
  if (w.status === 'failed') lines.push(`warehouse: loading failed, it keeps the days it had: ${w.error}`);
  return lines;
}

/** Whether a step failed (the CLI exits 1). */
export function publishFailed(o: BatchPublishOutcome): boolean {
  return o.views.status === 'failed' || o.warehouse.status === 'failed';
}
