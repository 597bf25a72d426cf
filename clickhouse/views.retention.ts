/**
 * Tiered retention of the batch views in ClickHouse (issue 18): the rows of a folder's table go
 * once the batch job's retention step trimmed that table (a kept version records it) or once its
 * day is past the table's tier (core/retention.ts, the tiers the current version records): the
 * same rule the readers apply, so ClickHouse holds no more than the files do, and no reader of any
 * kept version answers from what is gone (it reads the tier rule, not the rows).
 */
import type { Logger } from '../core/logger.ts';
import { pastTier, TABLE_TIER } from '../core/retention.ts';
import type { ClickHouseConnection } from './clickhouse.client.ts';
import { mutationsDone } from './mutations.ts';
import { qualifiedName } from './sql.quote.ts';
import { dirsCondition, PARTITION_BY, quoteDir, VIEW_DATA_TABLES, viewTable, type ViewDataTable } from './views.schema.ts';
import type { ViewVersion } from './views.reader.ts';

export interface TrimDeps {
  shards: readonly ClickHouseConnection[];
  database: string;
  logger?: Logger;
}

/** Deletes the past-tier rows of the folders loaded on each shard; returns `<dir> <table>` per table emptied. */
export async function trimPastTiers(deps: TrimDeps, source: { current(): ViewVersion | null; kept(): ViewVersion[] }, loaded: readonly Set<string>[], now: number): Promise<string[]> {
  const tiers = source.current()?.retention;
  const gone = new Map<string, Set<ViewDataTable>>();
  for (const v of source.kept())
    for (const [day, e] of Object.entries(v.days)) {
      const set = gone.get(e.dir) ?? new Set<ViewDataTable>();
      for (const t of VIEW_DATA_TABLES) if (e.trimmed?.includes(t) || (tiers && pastTier(day, now, tiers[TABLE_TIER[t]]))) set.add(t);
      if (set.size) gone.set(e.dir, set);
    }
  const items: string[] = [];
  if (gone.size === 0) return items;
  for (const [shard, dirs] of loaded.entries()) {
    const ch = deps.shards[shard]!;
    for (const t of VIEW_DATA_TABLES) {
      const candidates = [...gone].filter(([dir, tables]) => tables.has(t) && dirs.has(dir)).map(([dir]) => dir);
      if (candidates.length === 0) continue;
      const table = qualifiedName(deps.database, viewTable(t));
      const have = (await ch.rows<{ dir: string }>(`SELECT DISTINCT dir FROM ${table} WHERE ${dirsCondition(candidates)}`, `looking for past-tier rows in ${viewTable(t)}`)).map((r) => r.dir);
      if (have.length === 0) continue;
      if (PARTITION_BY[t] === 'dir') {
        for (const dir of have) await ch.command(`ALTER TABLE ${table} DROP PARTITION ${quoteDir(dir)}`, `dropping the past-tier ${dir} from ${viewTable(t)}`);
      } else {
        await ch.command(`ALTER TABLE ${table} DELETE WHERE ${dirsCondition(have)}`, `deleting past-tier rows from ${viewTable(t)}`);
        await mutationsDone(ch, deps.database, viewTable(t));
      }
      items.push(...have.map((dir) => `${dir} ${t}`));
    }
  }
  if (items.length) deps.logger?.info({ event: 'views_tiers_trimmed', store: 'clickhouse', items });
  return items.sort();
}
