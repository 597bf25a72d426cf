/**
 * The import's lake sink with real files and real DuckDB. The resume point against its in-flight
 * markers: a chunk the checkpoint covers keeps its files even when the process died before its
 * marker went; a chunk past the checkpoint loses them, so it is written once more and lands once.
 * And what a chunk becomes: one file per hour it touches (hours of time-ordered rows convert
 * while the chunk is still read), every event once, an erasure listed meanwhile honoured.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { ErasureList } from '../core/erasure.list.ts';
import { InflightMarkers, lakePaths } from '../batch/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { ImportLakeSink } from './import.lake.sink.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5);

/** Generated events re-timed: the `n`-th at `at(n)`, each with its own id. */
function eventsAt(times: number[], seed: number): TwinlaneEvent[] {
  const base = [...generateTraffic({ seed, sites: ['shop'], from: T0, to: T0 + HOUR, events: times.length + 50 })];
  return times.map((t, i) => ({ ...base[i % base.length]!, event_id: `00000000-0000-4000-a000-${String(seed * 1_000_000 + i).padStart(12, '0')}`, event_time: t, received_time: t }));
}

/** Every lake row's event id and time by file (lake-relative `dt=…/hour=…/name`). */
async function lakeRows(dataDir: string): Promise<Map<string, { id: string; time: number }[]>> {
  const events = lakePaths(dataDir).events;
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(`SELECT event_id, epoch_ms(event_time) AS t, filename FROM read_parquet($glob, filename = true)`, { glob: join(events, '*', '*', '*.parquet') });
    const out = new Map<string, { id: string; time: number }[]>();
    for (const [id, t, f] of r.getRows()) {
      const file = String(f).slice(events.length + 1);
      out.set(file, [...(out.get(file) ?? []), { id: String(id), time: Number(t) }]);
    }
    return out;
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

const hourOf = (file: string) => /dt=([\d-]+)\/hour=(\d\d)/.exec(file)!.slice(1).join(' ');
const hourName = (t: number) => new Date(t).toISOString().slice(0, 13).replace('T', ' ');

describe('ImportLakeSink.recover', () => {
  afterAll(runCleanups);

  it('keeps the files of the chunk ending at the checkpoint and deletes those of chunks past it', async () => {
    const dataDir = tempDir('import-sink');
    const importId = 'events-sites-abc';
    const paths = lakePaths(dataDir);
    const markers = new InflightMarkers(paths.inflight, 'imports', importId);
    const fileOf = (first: number, last: number) => {
      const dir = join(paths.events, 'dt=2026-01-01', 'hour=00');
      mkdirSync(dir, { recursive: true });
      const f = join(dir, `import~${importId}~p0~o${first}-${last}.parquet`);
      writeFileSync(f, 'x');
      return f;
    };
    const chunks = [[1, 2000], [2001, 4000], [4001, 6000]].map(([first, last]) => ({ first: String(first), last: String(last), file: fileOf(first!, last!) }));
    for (const c of chunks) await markers.write({ topic: `import~${importId}`, partition: 0, first: c.first, last: c.last, files: [c.file] });

    const sink = new ImportLakeSink({ dataDir, importId, duckdb: { threads: 1, memoryLimit: '64MB' }, erasures: new ErasureList(dataDir, 5_000) });
    await sink.open();
    try {
      // The checkpoint covers rows 1–4000: the second chunk was checkpointed, its marker not yet removed.
      expect(sink.recover(4000)).toEqual({ kept: 2, deleted: 1 });
      expect(chunks.map((c) => existsSync(c.file))).toEqual([true, true, false]);
      expect(markers.list(0)).toEqual([]);
    } finally {
      await sink.close();
    }
  });
});

describe('ImportLakeSink.place', () => {
  afterAll(runCleanups);

  it('writes one file per hour and chunk, every event once, whether rows come in time order or not', async () => {
    const dataDir = tempDir('import-sink-place');
    const sink = new ImportLakeSink({ dataDir, importId: 'events-sites-order', duckdb: { threads: 1, memoryLimit: '64MB' }, erasures: new ErasureList(dataDir, 0) });
    await sink.open();
    try {
      // Chunk 1: hours 0–6 in time order, 1,500 rows each: once hour 6 begins, hours 0–5 (9,000
      // rows) convert in one batch while the chunk is still read. Then a row back in hour 0 (already
      // converted: a second file), then rows of hours 6 and 7.
      const ordered = Array.from({ length: 10_500 }, (_, i) => T0 + Math.floor(i / 1_500) * HOUR + (i % 1_500) * 1000);
      const chunk1 = eventsAt([...ordered, T0 + 3_599_000, T0 + 6 * HOUR + 3_599_000, T0 + 7 * HOUR], 1);
      for (const e of chunk1) sink.append(e, 1);
      const placed1 = await sink.place(1, chunk1.length);
      // Chunk 2: out of order over hours 8–10 (the import is no longer in order: nothing converts early).
      const chunk2 = eventsAt(Array.from({ length: 90 }, (_, i) => T0 + (8 + ((i * 7) % 3)) * HOUR + i * 1000), 2);
      for (const e of chunk2) sink.append(e, chunk1.length + 1);
      const placed2 = await sink.place(chunk1.length + 1, chunk1.length + chunk2.length);
      sink.committed(placed1);
      sink.committed(placed2);

      expect(placed1.rows).toBe(chunk1.length);
      expect(placed2.rows).toBe(chunk2.length);
      expect(placed1.days).toEqual(['2026-01-05']);
      const rows = await lakeRows(dataDir);
      expect([...rows.keys()].sort()).toEqual([...placed1.files, ...placed2.files].map((f) => f.replace(/^events\//, '')).sort());
      // Every event once, in the file of its own hour.
      const truth = [...chunk1, ...chunk2];
      const landed = new Map<string, { time: number; file: string }>();
      for (const [file, rs] of rows) for (const r of rs) {
        expect(landed.has(r.id), `${r.id} twice`).toBe(false);
        landed.set(r.id, { time: r.time, file });
      }
      for (const e of truth) {
        const got = landed.get(e.event_id);
        expect(got, `${e.event_id} missing`).toBeDefined();
        expect(got!.time).toBe(e.event_time);
        expect(hourOf(got!.file)).toBe(hourName(e.event_time));
      }
      expect(landed.size).toBe(truth.length);
      // Files per hour: hour 0 twice in chunk 1 (its straggler came after it was converted), the others once per chunk.
      const perHour = (files: string[]) => files.map(hourOf).reduce((m, h) => m.set(h, (m.get(h) ?? 0) + 1), new Map<string, number>());
      expect(perHour(placed1.files)).toEqual(new Map([0, 1, 2, 3, 4, 5, 6, 7].map((h) => [hourName(T0 + h * HOUR), h === 0 ? 2 : 1])));
      expect(perHour(placed2.files)).toEqual(new Map([8, 9, 10].map((h) => [hourName(T0 + h * HOUR), 1])));
      expect(placed1.files.every((f) => f.includes(`import~events-sites-order~p0~o${'1'.padStart(19, '0')}-${String(chunk1.length).padStart(19, '0')}`))).toBe(true);
      // Nothing of the chunks is left in the scratch folder.
      expect(readdirSync(lakePaths(dataDir).tmp)).toEqual([]);
    } finally {
      await sink.close();
    }
  });

  it('leaves out a visitor erased after the rows were spooled, and writes no file for an hour left empty', async () => {
    const dataDir = tempDir('import-sink-erased');
    const erasures = new ErasureList(dataDir, 0);
    const sink = new ImportLakeSink({ dataDir, importId: 'events-sites-erased', duckdb: { threads: 1, memoryLimit: '64MB' }, erasures });
    await sink.open();
    try {
      // Chunk 1: hour 0 holds only the erased visitor's rows, hour 1 theirs and others' (one COPY of both hours).
      const events = eventsAt(Array.from({ length: 40 }, (_, i) => T0 + (i < 10 ? 0 : HOUR) + i * 1000), 3).map((e, i) => (i < 15 ? { ...e, visitor_id: 'gone' } : { ...e, visitor_id: `v${i}` }));
      for (const e of events) sink.append(e, 1);
      // Chunk 2: one hour of theirs only (a COPY of that hour alone).
      const later = eventsAt([T0 + 2 * HOUR, T0 + 2 * HOUR + 1000], 4).map((e) => ({ ...e, visitor_id: 'gone' }));
      new ErasureList(dataDir).add('shop', 'gone');
      const placed = await sink.place(1, events.length);
      for (const e of later) sink.append(e, events.length + 1);
      const placedLater = await sink.place(events.length + 1, events.length + later.length);
      expect(placed.rows).toBe(events.length);
      expect(placedLater).toMatchObject({ rows: later.length, files: [], days: [] });
      const rows = await lakeRows(dataDir);
      expect([...rows.keys()].map(hourOf)).toEqual([hourName(T0 + HOUR)]);
      expect([...rows.values()].flat().map((r) => r.id).sort()).toEqual(events.filter((e) => e.visitor_id !== 'gone').map((e) => e.event_id).sort());
      sink.committed(placed);
      sink.committed(placedLater);
      expect(readdirSync(lakePaths(dataDir).tmp)).toEqual([]);
    } finally {
      await sink.close();
    }
  });
});
