/** Test fixtures of the batch part: an event producer, and events read back from lake files. */
import avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { join } from 'node:path';
import { num, openDuckDB, type DuckDB } from '../../core/duckdb.ts';
import { SPOOL_COLUMNS } from '../lake.schema.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { EventCodec } from '../../schemas/index.ts';

/** Produces events (Confluent-framed Avro, key site:visitor) in batches of 2,000. */
export async function produceEvents(kafka: Kafka, codec: EventCodec, topic: string, events: Iterable<TwinlaneEvent>, extra: { value: Buffer }[] = [], pauseMs = 0): Promise<number> {
  await codec.init();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let n = 0;
  let batch: { key: string; value: Buffer }[] = [];
  const flush = async () => {
    if (batch.length) await producer.send({ topic, acks: -1, messages: batch });
    batch = [];
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  };
  try {
    for (const e of events) {
      batch.push({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) });
      n++;
      if (batch.length >= 2000) await flush();
    }
    await flush();
    if (extra.length) await producer.send({ topic, acks: -1, messages: extra.map((m) => ({ key: 'bad', value: m.value })) });
  } finally {
    await producer.disconnect();
  }
  return n;
}

export { avro };

type Row = Record<string, unknown>;

/** An event's lake columns, as lake rows are compared with what was produced. */
export function lakeColumns(e: TwinlaneEvent | Row): Row {
  return Object.fromEntries(SPOOL_COLUMNS.map((c) => [c, (e as Row)[c]]));
}

/** Orders lake rows or events by event id. */
export function byEventId(a: Row, b: Row): number {
  return (a.event_id as string) < (b.event_id as string) ? -1 : 1;
}

/**
 * Every row of the lake files under `glob` (dt=/hour= folders) as lakeColumns of events (times
 * as epoch ms, maps as objects), sorted by event id; `placed`: whether each row sits in the
 * folder of its own event time.
 */
export async function readLakeEvents(db: DuckDB, glob: string): Promise<{ events: Row[]; placed: boolean }> {
  const r = await db.conn.runAndReadAll(
    `SELECT *, epoch_ms(event_time) AS et, epoch_ms(received_time) AS rt, strftime(event_time, '%Y-%m-%d') = dt AND strftime(event_time, '%H') = hour AS placed
     FROM read_parquet($g, hive_partitioning = true, hive_types_autocast = false)`,
    { g: glob },
  );
  const rows = r.getRowObjectsJS();
  const events = rows.map((row) =>
    lakeColumns({
      ...row,
      event_time: Number(row.et),
      received_time: Number(row.rt),
      revenue_micros: row.revenue_micros === null ? null : Number(row.revenue_micros),
      properties: Object.fromEntries((row.properties as { key: string; value: string }[]).map((p) => [p.key, p.value])),
    }),
  );
  return { events: events.sort(byEventId), placed: rows.every((row) => row.placed === true) };
}

/** Events in the lake under `dataDir` and their distinct ids (0 and 0 before the first file); DuckDB spills to `scratch`. */
export async function lakeEventCounts(dataDir: string, scratch: string): Promise<{ rows: number; ids: number }> {
  const db = await openDuckDB({ memoryLimit: '128MB', threads: 1, tempDir: scratch });
  try {
    const r = await db.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM read_parquet($g)`, { g: join(dataDir, 'lake/events/*/*/*.parquet') });
    const row = r.getRowObjectsJS()[0]!;
    return { rows: num(row.n), ids: num(row.d) };
  } catch (err) {
    if (String(err).includes('No files found')) return { rows: 0, ids: 0 };
    throw err;
  } finally {
    db.close();
  }
}
