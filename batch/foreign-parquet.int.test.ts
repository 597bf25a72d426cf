/**
 * Acceptance: the batch job reads Parquet it did not write (DuckDB COPY from this test, with
 * TIMESTAMP_MS times and a column order of its own), and compaction merges an hour's files
 * without changing its rows or the views.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS } from '../core/views.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { runBatch } from './batch.job.ts';
import { BatchReader } from './batch.reader.ts';
import { compactHour } from './compaction.job.ts';
import { num, openDuckDB } from '../core/duckdb.ts';

const D = Date.UTC(2026, 2, 14);

describe('batch job over Parquet of another writer', () => {
  afterAll(runCleanups);

  it('computes exact views from foreign files, and compaction keeps rows and views unchanged', async () => {
    const dataDir = tempDir('foreign');
    const db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(dataDir, 't') });
    // 3 files in hour 10: 3,000 rows of 300 visitors, 1 bot in 10, every 5th a purchase of 2.50; id ev-1000 written twice.
    for (const part of [0, 1, 2]) {
      const dir = join(dataDir, 'lake/events/dt=2026-03-14/hour=10');
      mkdirSync(dir, { recursive: true });
      await db.conn.run(
        `COPY (SELECT CAST(TIMESTAMP '2026-03-14 10:00:00' + to_seconds(i) AS TIMESTAMP_MS) AS event_time, 'ev-' || CASE WHEN i = 1001 THEN 1000 ELSE i END AS event_id, 'shop' AS site_id,
           CASE WHEN i % 5 = 0 THEN 'purchase' ELSE 'pageview' END AS type, CASE WHEN i % 5 = 0 THEN 'purchase' ELSE 'pageview' END AS name,
           CAST(TIMESTAMP '2026-03-14 10:00:00' + to_seconds(i) AS TIMESTAMP_MS) AS received_time, 'v' || (i % 300) AS visitor_id, 's' || (i % 600) AS session_id,
           'https://shop.example/p' AS url, '/p' || (i % 7) AS path, 'shop.example' AS hostname, NULL AS referrer, NULL AS referrer_host, NULL AS title,
           NULL AS utm_source, NULL AS utm_medium, NULL AS utm_campaign, NULL AS utm_term, NULL AS utm_content, 'FR' AS country, 'desktop' AS device_type, 'Firefox' AS browser, 'Linux' AS os,
           i % 10 = 3 AS is_bot, NULL AS ip_hash, false AS time_adjusted, MAP {'k': 'v'} AS properties, CASE WHEN i % 5 = 0 THEN 2500000 END AS revenue_micros, 'EUR' AS currency, 1280 AS screen_width
         FROM range($lo, $hi) t(i)) TO $out (FORMAT parquet)`,
        { lo: part * 1000, hi: part * 1000 + 1000, out: join(dir, `other-writer-${part}.parquet`) },
      );
    }
    db.close();
    const options = { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } };
    const first = await runBatch({ options, now: () => D + 2 * 86_400_000 }, { dates: ['2026-03-14'] });
    expect(first.status).toBe('ok');
    expect(first.days[0]).toMatchObject({ rowsRead: 3000, events: 2999, duplicates: 1, outsideDay: 0 });
    // i = 1001 repeats id ev-1000, i = 1000 is the earlier receive and wins; i = 1001 is dropped.
    const reader = new BatchReader({ dataDir });
    const totals = await reader.totals({ site: 'shop', from: D, to: D + 86_400_000, metrics: [...METRICS], currency: 'EUR' });
    const ids = [...Array(3000).keys()].filter((i) => i !== 1001);
    const human = ids.filter((i) => i % 10 !== 3);
    expect(totals.pageviews).toBe(human.filter((i) => i % 5 !== 0).length);
    expect(totals.bot_pageviews).toBe(ids.filter((i) => i % 10 === 3 && i % 5 !== 0).length);
    expect(totals.purchases).toBe(human.filter((i) => i % 5 === 0).length);
    expect(totals.revenue).toBe(human.filter((i) => i % 5 === 0).length * 2_500_000); // micros, all EUR (the reporting currency asked)
    expect(totals.visitors).toBe(new Set(human.map((i) => i % 300)).size);
    // Visits are the server's (30 minutes without an event), not the writer's session ids: each
    // visitor's events are 300 s apart within the hour, so one visit per human visitor.
    expect(totals.sessions).toBe(new Set(human.map((i) => i % 300)).size);
    const before = await reader.series({ site: 'shop', grain: 'minute', from: D + 10 * 3_600_000, to: D + 11 * 3_600_000, metrics: [...METRICS] });

    const c = await compactHour({ dataDir, duckdb: options.duckdb, now: D + 2 * 86_400_000 }, '2026-03-14', 10);
    expect(c).toMatchObject({ filesBefore: 3, filesAfter: 1, rows: 3000 });
    const second = await runBatch({ options, now: () => D + 2 * 86_400_000 }, { dirty: true });
    expect(second.days.map((d) => d.day)).toEqual(['2026-03-14']);
    expect(second.days[0]).toMatchObject({ rowsRead: 3000, events: 2999 });
    expect(await reader.series({ site: 'shop', grain: 'minute', from: D + 10 * 3_600_000, to: D + 11 * 3_600_000, metrics: [...METRICS] })).toEqual(before);
    const check = await openDuckDB({ memoryLimit: '256MB', threads: 1, tempDir: join(dataDir, 't2') });
    const r = (await check.conn.runAndReadAll(`SELECT count(*) AS n, sum(cardinality(properties)) AS p FROM read_parquet($g)`, { g: join(dataDir, 'lake/events/*/*/*.parquet') })).getRowObjectsJS()[0]!;
    expect([num(r.n), num(r.p)]).toEqual([3000, 3000]);
    check.close();
    await reader.close();
  });
});
