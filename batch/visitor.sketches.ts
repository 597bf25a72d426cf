/**
 * A day's visitor sketches: for each site with at least `minVisitors` non-bot visitors that day,
 * a HyperLogLog of its visitor ids in Redis' own dense format (core/redis-hll.ts), hex in the day
 * folder's `sketches.parquet` (site_id, visitors). A visitors total across W over whole days then
 * merges one 12 KB sketch per day into the speed side's union instead of streaming every id of
 * the range through serving; sites below the threshold stream their few ids as before (their
 * sketches would cost more to keep than their ids to read).
 */
import { listValue, VARCHAR, LIST, type DuckDBConnection } from '@duckdb/node-api';
import { RedisHll } from '../core/redis-hll.ts';

/** A site with fewer visitors on a day gets no sketch for it: its ids are read instead. */
export const DEFAULT_SKETCH_MIN_VISITORS = 2_000;

/**
 * Writes the sketches of the sites of `dayFile` (the day's rollup) with at least `minVisitors`
 * visitors, from `ev` (a table expression with site_id, visitor_id and is_bot: the day's events
 * or the batch job's session minutes), to `out`. Holds one 16 KB register
 * array per such site (at most visitors / minVisitors of them) and one chunk of ids at a time.
 * An id given twice leaves its sketch as it was, so no distinct table of the ids is made (the job
 * gives each visitor once, its first minute of the day). Returns the number of sketches written.
 */
export async function writeVisitorSketches(conn: DuckDBConnection, ev: string, dayFile: string, out: string, minVisitors: number, parquet: string): Promise<number> {
  const sketches = new Map<string, RedisHll>();
  const result = await conn.stream(
    `SELECT site_id, visitor_id FROM ${ev} WHERE NOT is_bot AND site_id IN (SELECT site_id FROM read_parquet($day) WHERE visitors >= $min)`,
    { day: dayFile, min: minVisitors },
  );
  for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const sites = chunk.getColumnValues(0) as string[];
    const ids = chunk.getColumnValues(1) as string[];
    let site = '';
    let hll: RedisHll | undefined;
    for (let i = 0; i < ids.length; i++) {
      if (sites[i] !== site || !hll) {
        site = sites[i]!;
        hll = sketches.get(site);
        if (!hll) sketches.set(site, (hll = new RedisHll()));
      }
      hll.add(ids[i]!);
    }
  }
  const names = [...sketches.keys()].sort();
  await conn.run(`COPY (SELECT unnest($sites) AS site_id, unnest($sketches) AS visitors) TO $out (${parquet})`, {
    sites: listValue(names),
    sketches: listValue(names.map((s) => sketches.get(s)!.toBuffer().toString('hex'))),
    out,
  }, { sites: LIST(VARCHAR), sketches: LIST(VARCHAR) });
  return names.length;
}
