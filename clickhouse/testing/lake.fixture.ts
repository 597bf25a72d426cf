/**
 * Test kit of the warehouse: events written as lake files (contract 4: dt=/hour= folders of
 * Parquet with the lake columns) without Kafka, and the truth a loaded warehouse must equal,
 * computed from the events in plain TypeScript.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { DuckDB } from '../../core/duckdb.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { LAKE_COLUMNS, lakePaths } from '../../batch/index.ts';

function readType(type: string): string {
  return type === 'TIMESTAMP' ? 'BIGINT' : type;
}

function lakeExpr(name: string, type: string): string {
  return type === 'TIMESTAMP' ? `make_timestamp(${name} * 1000) AS ${name}` : name;
}

/** Writes `events` into the lake of `dataDir`, one file per hour named `<name>_<n>.parquet`. */
export async function writeLakeEvents(db: DuckDB, dataDir: string, events: readonly TwinlaneEvent[], name: string): Promise<void> {
  const tmp = join(dataDir, `.fixture-${randomUUID()}.ndjson`);
  mkdirSync(lakePaths(dataDir).events, { recursive: true });
  writeFileSync(tmp, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  try {
    const columns = `{${LAKE_COLUMNS.map(([n, t]) => `${n}: '${readType(t)}'`).join(', ')}}`;
    await db.conn.run(
      `COPY (SELECT ${LAKE_COLUMNS.map(([n, t]) => lakeExpr(n, t)).join(', ')},
          strftime(make_timestamp(event_time * 1000), '%Y-%m-%d') AS dt, strftime(make_timestamp(event_time * 1000), '%H') AS hour
        FROM read_json($file, format = 'newline_delimited', columns = ${columns}))
       TO $dir (FORMAT parquet, PARTITION_BY (dt, hour), FILENAME_PATTERN $pattern, OVERWRITE_OR_IGNORE true)`,
      { file: tmp, dir: lakePaths(dataDir).events, pattern: `${name}_{i}` },
    );
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * One event per event id, the batch job's rule: the earliest received_time wins (then the
 * earliest event_time); events given later win nothing on a tie.
 */
export function dedupeEarliest(events: Iterable<TwinlaneEvent>): TwinlaneEvent[] {
  const kept = new Map<string, TwinlaneEvent>();
  for (const e of events) {
    const k = kept.get(e.event_id);
    if (!k || e.received_time < k.received_time || (e.received_time === k.received_time && e.event_time < k.event_time)) kept.set(e.event_id, e);
  }
  return [...kept.values()];
}

/** Events per `site|YYYY-MM-DDTHH` (UTC hour of the event time). */
export function countsPerSiteHour(events: Iterable<TwinlaneEvent>): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    const key = `${e.site_id}|${new Date(e.event_time).toISOString().slice(0, 13)}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}
