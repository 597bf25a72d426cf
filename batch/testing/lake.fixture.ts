/**
 * A lake of known events without Kafka: the events are written as the archiver lays them out
 * (`dt=/hour=` folders of Parquet with the lake.schema.ts columns, converted by the archiver's own
 * SELECT list), so the real batch job reads them as it reads the archiver's files.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDuckDB } from '../../core/duckdb.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { lakePaths } from '../lake.layout.ts';
import { LAKE_COLUMNS, SPOOL_TO_LAKE_SQL } from '../lake.schema.ts';

/** The spool's column types (what SPOOL_TO_LAKE_SQL converts from): times in epoch ms, maps as JSON text. */
const SPOOL_JSON_COLUMNS = LAKE_COLUMNS.map(([name, type]) => `${name}: '${type === 'TIMESTAMP' ? 'BIGINT' : type.startsWith('MAP') ? 'VARCHAR' : type}'`).join(', ');

/** Writes `events` into the lake of `dataDir`, one Parquet file per event-time hour. */
export async function writeLakeEvents(dataDir: string, events: readonly TwinlaneEvent[]): Promise<void> {
  const paths = lakePaths(dataDir);
  const scratch = join(paths.tmp, `fixture-${randomUUID()}`);
  mkdirSync(scratch, { recursive: true });
  const db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(scratch, 'duckdb') });
  // One COPY per UTC day: a partitioned write keeps a writer (and its buffers) open per hour
  // folder, which weeks of hours at once would not fit in the memory limit.
  const byDay = new Map<number, TwinlaneEvent[]>();
  for (const e of events) {
    const day = Math.floor(e.event_time / 86_400_000);
    const list = byDay.get(day);
    if (list) list.push(e);
    else byDay.set(day, [e]);
  }
  try {
    for (const [day, list] of byDay) {
      const file = join(scratch, `events-${day}.ndjson`);
      writeFileSync(file, list.map((e) => JSON.stringify({ ...e, properties: JSON.stringify(e.properties) })).join('\n') + '\n');
      await db.conn.run(
        `COPY (SELECT ${SPOOL_TO_LAKE_SQL} FROM read_json($file, format = 'newline_delimited', columns = {${SPOOL_JSON_COLUMNS}}))
         TO $dir (FORMAT parquet, PARTITION_BY (dt, hour), OVERWRITE_OR_IGNORE)`,
        { file, dir: paths.events },
      );
    }
  } finally {
    db.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
