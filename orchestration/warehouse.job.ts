/**
 * The `warehouse` step after each batch run: the ClickHouse warehouse is brought to the current
 * batch version, day by day (each day swapped in atomically). Its own ledger run with the
 * runner's retries; a failure (ClickHouse down) leaves every day as it was, and since the step
 * compares the warehouse with the version rather than with the last run, the next one makes up
 * for it even when that batch run had nothing to compute.
 */
import type { JobDefinition, JobOutput, WarehousePort } from './types.ts';

export function warehouseJob(warehouse: WarehousePort): JobDefinition {
  return {
    name: 'warehouse',
    async run(ctx): Promise<JobOutput> {
      const r = await warehouse.sync({ signal: ctx.signal });
      return {
        days: [...r.loaded.map((d) => d.day), ...r.dropped].sort(),
        rows: r.loaded.reduce((n, d) => n + d.rows, 0),
        details: {
          ...(r.version === undefined ? {} : { version: r.version }),
          loaded: r.loaded.map((d) => ({ day: d.day, rows: d.rows, duplicates: d.duplicates })),
          dropped: r.dropped,
          unchanged: r.unchanged,
        },
      };
    },
  };
}
