/**
 * The `views` step after each batch run when serving reads the batch views from ClickHouse
 * (BATCH_VIEWS_STORE=clickhouse): the new version is copied there and its pointer moved. Until it
 * succeeds serving answers from the version ClickHouse had, so the steps that assume the new W
 * is served (drift, then the retirement of the speed minutes before W) run only after it (`next`).
 * It compares ClickHouse with the current version, not with the last run, so a failed step is made
 * good by the next one whatever that batch run did.
 */
import type { JobDefinition, JobOutput, ViewsPublishPort } from './types.ts';

export function viewsJob(views: ViewsPublishPort, next: JobDefinition[] = []): JobDefinition {
  return {
    name: 'views',
    async run(ctx): Promise<JobOutput> {
      const r = await views.publish({ signal: ctx.signal });
      return {
        days: [...new Set(r.loaded.map((l) => l.dir.split('/')[1]!))].sort(),
        rows: r.loaded.reduce((n, l) => n + l.rows, 0),
        details: { store: 'clickhouse', version: r.version, watermark: r.watermark, moved: r.moved, loaded: r.loaded, dropped: r.dropped },
        next,
      };
    },
  };
}
