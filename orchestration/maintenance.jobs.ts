/** Hourly lake compaction and daily retention clean-up, each store with its own retention. */
import type { CompactionPort, JobDefinition, JobOutput, RetentionTarget } from './types.ts';

export function compactionJob(lake: CompactionPort): JobDefinition {
  return {
    name: 'compaction',
    async run(ctx): Promise<JobOutput> {
      const r = await lake.compact({ signal: ctx.signal });
      return { rows: r.rows ?? 0, details: { partitions: r.partitions, filesBefore: r.filesBefore, filesAfter: r.filesAfter } };
    },
  };
}

/**
 * Purges every store even when one fails, then fails the run naming the stores that failed
 * (the retry repeats all: purging is idempotent).
 */
export function retentionJob(targets: readonly RetentionTarget[], clock: () => number = Date.now): JobDefinition {
  return {
    name: 'retention',
    async run(): Promise<JobOutput> {
      const now = clock();
      const removed: Record<string, number> = {};
      const items: string[] = [];
      const failures: { store: string; err: unknown }[] = [];
      for (const t of targets) {
        try {
          const r = await t.purge(now);
          removed[t.store] = r.removed;
          items.push(...(r.items ?? []).slice(0, 50));
        } catch (err) {
          failures.push({ store: t.store, err });
        }
      }
      if (failures.length) {
        const first = failures[0]!.err;
        const err = new AggregateError(failures.map((f) => f.err), `retention failed for ${failures.map((f) => `${f.store} (${(f.err as Error).message})`).join(', ')}`);
        throw Object.assign(err, { cause: first });
      }
      return { rows: Object.values(removed).reduce((a, b) => a + b, 0), details: { removed, items } };
    },
  };
}
