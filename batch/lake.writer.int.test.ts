/**
 * The spool's CSV dialect read back by DuckDB: every value of every lake column comes out of the
 * Parquet files exactly as the producer wrote it, including quotes, newlines, control characters,
 * non-ASCII text, empty strings next to NULLs, extreme numbers and map entries.
 */
import { ErasureList } from '../core/erasure.list.ts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic, rng } from '../traffic/index.ts';
import { EVENT_SCHEMA, type TwinlaneEvent } from '../schemas/index.ts';
import { frame } from '../schemas/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { openDuckDB } from '../core/duckdb.ts';
import { InflightMarkers } from './lake-recovery.ts';
import { lakePaths } from './lake.layout.ts';
import { SPOOL_COLUMNS } from './lake.schema.ts';
import { LakeWriter } from './lake.writer.ts';
import { PartitionSpool } from './partition.spool.ts';
import { SpoolLineEncoder } from './spool-line.encoder.ts';
import { byEventId, lakeColumns, readLakeEvents } from './testing/fixtures.ts';

const type = avro.Type.forSchema(EVENT_SCHEMA as avro.Schema);
const ID = 3;
const DAY = Date.UTC(2026, 2, 14);

function oddEvents(): TwinlaneEvent[] {
  const base = [...generateTraffic({ seed: 5, sites: ['a'], from: DAY, to: DAY + 3_600_000, events: 20 })];
  const random = rng(9);
  const nasty = ['a"b', 'line\nbreak', 'cr\rlf\r\n', 'nul\u0000byte', '\u0001\u001f\u007f', ',', '"', '""', ' padded ', 'é 中文 😀', '\\', '{}', 'null', 'NULL', ''];
  return base.map((e, i): TwinlaneEvent => ({
    ...e,
    event_id: `${e.event_id}-${i}`,
    url: nasty[i % nasty.length]!,
    title: i % 3 === 0 ? null : nasty[(i + 3) % nasty.length]!,
    referrer: i % 2 === 0 ? '' : null,
    utm_term: nasty[(i + 7) % nasty.length]!,
    properties: i % 4 === 0 ? ({} as Record<string, string>) : { [nasty[i % nasty.length]!]: nasty[(i + 1) % nasty.length]!, plan: 'pro' },
    revenue_micros: [null, 0, -1, 9007199254740990, -4503599627370496, Math.floor(random() * 1e12)][i % 6]!,
    screen_width: [null, -2147483648, 2147483647, 0][i % 4]!,
    is_bot: i % 2 === 0,
    time_adjusted: i % 3 === 0,
    event_time: DAY + i * 600_000 + (i % 7),
  }));
}

describe('lake writer reading the spool dialect', () => {
  afterAll(runCleanups);

  it('writes every value back exactly, in the dt/hour of its event time', async () => {
    const dataDir = tempDir('lake-writer');
    const paths = lakePaths(dataDir);
    const db = await openDuckDB({ memoryLimit: '256MB', threads: 2, tempDir: join(dataDir, 'tmp') });
    const markers = new InflightMarkers(paths.inflight, 'g', 't');
    const writer = new LakeWriter(db.conn, paths, 't', markers, new ErasureList(dataDir));
    const odd = oddEvents();
    // Many rows with quoted newlines, so DuckDB's parallel CSV scan splits inside them too.
    const bulk = [...generateTraffic({ seed: 8, sites: ['b'], from: DAY, to: DAY + 7_200_000, events: 60_000 })].map((e, i) => ({ ...e, title: i % 5 === 0 ? `t\n"${i}",\n` : e.title }));
    const events = [...odd, ...bulk];
    const enc = new SpoolLineEncoder(type, ID, SPOOL_COLUMNS);
    for (const e of events) expect(enc.tryAppend(frame(ID, type.toBuffer(e)))).toBe(true);
    // A line far beyond DuckDB's default limit (2 MB): a 3 MB title of quotes, doubled in CSV.
    const huge = { ...odd[2]!, event_id: 'huge-line', title: '"'.repeat(3_000_000) };
    expect(enc.tryAppend(frame(ID, type.toBuffer(huge)))).toBe(true);
    events.push(huge);
    // One event through the slow path (another schema id), in the same file.
    const slow = { ...odd[1]!, event_id: 'slow-path', title: 'x"\ny' };
    enc.appendEvent(type.fromBuffer(type.toBuffer(slow)) as object);
    events.push(slow);
    const spool = new PartitionSpool(0, join(dataDir, 'p0'));
    spool.append(enc.bytes(), events.length, 0n, BigInt(events.length - 1), enc.longestLine);
    spool.seal();
    const rolled = await writer.writePartition(spool);
    spool.discard();
    expect(rolled.rows).toBe(events.length);

    const got = await readLakeEvents(db, join(paths.events, '*/*/*.parquet'));
    expect(got.placed).toBe(true);
    expect(got.events).toEqual(events.map(lakeColumns).sort(byEventId));
    db.close();
  });

  it('places a spool converted in segments (one ahead of the roll) under one range, a numbered file for what the second segment holds of each hour', async () => {
    const dataDir = tempDir('lake-writer-segments');
    const paths = lakePaths(dataDir);
    const db = await openDuckDB({ memoryLimit: '256MB', threads: 2, tempDir: join(dataDir, 'tmp') });
    const writer = new LakeWriter(db.conn, paths, 't', new InflightMarkers(paths.inflight, 'g', 't'), new ErasureList(dataDir));
    // A first segment cut off and converted ahead, then a second one; both span the same two hours.
    const events = [...generateTraffic({ seed: 4, sites: ['c'], from: DAY, to: DAY + 7_200_000, events: 3_000 })].map((e, i) => ({ ...e, event_time: DAY + (i % 2) * 3_600_000 + i }));
    const spool = new PartitionSpool(2, join(dataDir, 'p2'));
    const enc = new SpoolLineEncoder(type, ID, SPOOL_COLUMNS);
    for (let k = 0; k < 3; k++) {
      enc.reset();
      const part = events.slice(k * 1_000, (k + 1) * 1_000);
      for (const e of part) enc.tryAppend(frame(ID, type.toBuffer(e)));
      spool.append(enc.bytes(), part.length, BigInt(100 + k * 1_000), BigInt(99 + (k + 1) * 1_000), enc.longestLine);
      if (k === 0) {
        const ahead = spool.cut()!;
        ahead.converted = writer.convert(ahead, 2);
      }
    }
    const rolled = await writer.writePartition(spool);
    spool.discard();
    expect(rolled).toMatchObject({ partition: 2, first: 100n, last: 3_099n, rows: 3_000 });
    const names = rolled.files.map((f) => f.split('/').at(-1)!).sort();
    expect(names).toEqual(['t~p2~o0000000000000000100-0000000000000003099.parquet', 't~p2~o0000000000000000100-0000000000000003099~1.parquet'].flatMap((n) => [n, n]).sort());
    expect(readdirSync(paths.tmp)).toEqual([]);
    const r = await db.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM read_parquet($g)`, { g: join(paths.events, '*/*/*.parquet') });
    expect(r.getRowObjectsJS()[0]).toEqual({ n: 3_000n, d: 3_000n });
    db.close();
  });
});
