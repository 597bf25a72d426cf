/**
 * The day's events file writes its columns of few values as ENUMs (views.sql.ts ENUM_COLUMNS) and
 * the rest as strings. Whichever way a column is written, the file must hold each kept event's
 * labelled value: checked row by row against values computed here from the lake rows, with one
 * column past MAX_ENUM_VALUES (written as strings) and the others with missing values of every
 * kind (NULL, '', the device type `unknown`).
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labelOf } from '../core/views.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { runBatch } from './batch.job.ts';
import { openDuckDB } from '../core/duckdb.ts';
import { MAX_ENUM_VALUES } from './views.sql.ts';

const D = Date.UTC(2026, 2, 14);
const N = MAX_ENUM_VALUES + 1_000;
const COUNTRIES = [null, '', 'FR', 'DE', 'JP'];
const DEVICES = ['desktop', 'mobile', 'unknown', ''];
const SOURCES = [null, 'newsletter', 'google', ''];

function lakeRow(i: number): Record<string, string | null> {
  return {
    page: i % 11 === 0 ? null : `/p${i % 40}`,
    country: COUNTRIES[i % COUNTRIES.length]!,
    device: DEVICES[i % DEVICES.length]!,
    utm_source: SOURCES[i % SOURCES.length]!,
    utm_term: `term-${i}`, // one value per event: more than MAX_ENUM_VALUES
    event_name: i % 3 === 0 ? 'signup' : 'pageview',
  };
}

describe('events file columns written as ENUMs', () => {
  afterAll(runCleanups);

  it('holds every event’s labelled values, in ENUM columns and in a column with too many values for one', async () => {
    const dataDir = tempDir('enums');
    const dir = join(dataDir, 'lake/events/dt=2026-03-14/hour=10');
    mkdirSync(dir, { recursive: true });
    const db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(dataDir, 't') });
    const rows = [...Array(N).keys()].map(lakeRow);
    await db.conn.run(
      `COPY (SELECT TIMESTAMP '2026-03-14 10:00:00' + to_milliseconds(i * 100) AS event_time, 'ev-' || i AS event_id, 'shop' AS site_id,
         CASE WHEN i % 3 = 0 THEN 'custom' ELSE 'pageview' END AS type, CASE WHEN i % 3 = 0 THEN 'signup' ELSE 'pageview' END AS name,
         TIMESTAMP '2026-03-14 10:00:00' + to_milliseconds(i * 100) AS received_time, 'v' || (i % 500) AS visitor_id, 's' || i AS session_id,
         'https://shop.example/' AS url, CASE WHEN i % 11 = 0 THEN NULL ELSE '/p' || (i % 40) END AS path, 'shop.example' AS hostname,
         NULL AS referrer, NULL AS referrer_host, NULL AS title,
         ${sqlList(SOURCES)}[i % ${SOURCES.length} + 1] AS utm_source, NULL AS utm_medium, NULL AS utm_campaign, 'term-' || i AS utm_term, NULL AS utm_content,
         ${sqlList(COUNTRIES)}[i % ${COUNTRIES.length} + 1] AS country, ${sqlList(DEVICES)}[i % ${DEVICES.length} + 1] AS device_type,
         'Firefox' AS browser, 'Linux' AS os, false AS is_bot, NULL AS ip_hash, false AS time_adjusted, MAP {} :: MAP(VARCHAR, VARCHAR) AS properties,
         NULL :: BIGINT AS revenue_micros, NULL AS currency, 1280 AS screen_width
       FROM range(${N}) t(i)) TO $out (FORMAT parquet)`,
      { out: join(dir, 'data_0.parquet') },
    );
    db.close();
    const options = { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } };
    const run = await runBatch({ options, now: () => D + 2 * 86_400_000 }, { dates: ['2026-03-14'] });
    expect(run.status).toBe('ok');
    expect(run.days[0]).toMatchObject({ events: N });

    const dayDir = join(dataDir, 'views/days/2026-03-14');
    const [version] = readdirSync(dayDir);
    const check = await openDuckDB({ memoryLimit: '256MB', threads: 1, tempDir: join(dataDir, 't2') });
    const got = (
      await check.conn.runAndReadAll(
        `SELECT CAST(split_part(session_id, '@', 1) AS VARCHAR) AS visitor, utm_term, page, country, device, utm_source, event_name, type, site_id FROM read_parquet($f) ORDER BY CAST(substr(utm_term, 6) AS INTEGER)`,
        { f: join(dayDir, version!, 'events.parquet') },
      )
    ).getRowObjectsJS();
    check.close();
    // The truth's rows, each one checked: an empty or short answer fails.
    expect(got).toHaveLength(N);
    rows.forEach((r, i) => {
      expect(got[i], `event ${i}`).toEqual({
        visitor: `v${i % 500}`,
        utm_term: labelOf('utm_term', r.utm_term),
        page: labelOf('page', r.page),
        country: labelOf('country', r.country),
        device: labelOf('device', r.device),
        utm_source: labelOf('utm_source', r.utm_source),
        event_name: labelOf('event_name', r.event_name),
        type: i % 3 === 0 ? 'custom' : 'pageview',
        site_id: 'shop',
      });
    });
  });

  // The labelled columns are cast once per value of a Parquet dictionary (views.sql.ts
  // perDictionaryValue), and a file's dictionary also lists the values of rows the day leaves out.
  it('reads a lake file whose left-out rows (outside the day) hold values no kept row has', async () => {
    const dataDir = tempDir('enums-left-out');
    const dir = join(dataDir, 'lake/events/dt=2026-03-14/hour=23');
    mkdirSync(dir, { recursive: true });
    const db = await openDuckDB({ memoryLimit: '512MB', threads: 1, tempDir: join(dataDir, 't') });
    // Every 10th row is of the next day, with a site, country, device, page and browser of its own.
    await db.conn.run(
      `COPY (SELECT CASE WHEN i % 10 = 0 THEN TIMESTAMP '2026-03-15 00:00:01' ELSE TIMESTAMP '2026-03-14 23:00:00' + to_milliseconds(i * 100) END AS event_time,
         'ev-' || i AS event_id, CASE WHEN i % 10 = 0 THEN 'elsewhere' ELSE 'shop' END AS site_id, 'pageview' AS type, 'pageview' AS name,
         TIMESTAMP '2026-03-14 23:00:00' AS received_time, 'v' || (i % 7) AS visitor_id, 's' AS session_id,
         'https://shop.example/' AS url, CASE WHEN i % 10 = 0 THEN '/gone' ELSE '/p' || (i % 3) END AS path, 'shop.example' AS hostname,
         NULL AS referrer, NULL AS referrer_host, NULL AS title, NULL AS utm_source, NULL AS utm_medium, NULL AS utm_campaign, NULL AS utm_term, NULL AS utm_content,
         CASE WHEN i % 10 = 0 THEN 'ZZ' ELSE 'FR' END AS country, CASE WHEN i % 10 = 0 THEN 'tv' ELSE 'mobile' END AS device_type,
         CASE WHEN i % 10 = 0 THEN 'Lynx' ELSE 'Firefox' END AS browser, 'Linux' AS os, false AS is_bot, NULL AS ip_hash, false AS time_adjusted,
         MAP {} :: MAP(VARCHAR, VARCHAR) AS properties, NULL :: BIGINT AS revenue_micros, NULL AS currency, 1280 AS screen_width
       FROM range(1000) t(i)) TO $out (FORMAT parquet)`,
      { out: join(dir, 'data_0.parquet') },
    );
    db.close();
    const options = { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } };
    const run = await runBatch({ options, now: () => D + 2 * 86_400_000 }, { dates: ['2026-03-14'] });
    expect(run.errors.filter((e) => !e.includes('outside the day'))).toEqual([]);
    expect(run.status).toBe('ok');
    expect(run.days[0]).toMatchObject({ events: 900, outsideDay: 100 });
    const dayDir = join(dataDir, 'views/days/2026-03-14');
    const [version] = readdirSync(dayDir);
    const check = await openDuckDB({ memoryLimit: '256MB', threads: 1, tempDir: join(dataDir, 't2') });
    const got = (
      await check.conn.runAndReadAll(
        `SELECT site_id, page, country, device, browser, count(*) AS n FROM read_parquet($f) GROUP BY ALL ORDER BY page`,
        { f: join(dayDir, version!, 'events.parquet') },
      )
    ).getRowObjectsJS();
    const dims = (await check.conn.runAndReadAll(`SELECT dimension, value, pageviews FROM read_parquet($f) WHERE dimension IN ('country', 'page') ORDER BY ALL`, { f: join(dayDir, version!, 'dims.parquet') })).getRowObjectsJS();
    check.close();
    // The kept rows: i % 10 <> 0, 300 per page (/p0, /p1, /p2).
    expect(got.map((r) => ({ ...r, n: Number(r.n) }))).toEqual(
      [0, 1, 2].map((p) => ({ site_id: 'shop', page: `/p${p}`, country: 'FR', device: 'mobile', browser: 'Firefox', n: 300 })),
    );
    expect(dims.map((r) => ({ ...r, pageviews: Number(r.pageviews) }))).toEqual([
      { dimension: 'country', value: 'FR', pageviews: 900 },
      ...[0, 1, 2].map((p) => ({ dimension: 'page', value: `/p${p}`, pageviews: 300 })),
    ]);
  });
});

function sqlList(values: readonly (string | null)[]): string {
  return `[${values.map((v) => (v === null ? 'NULL' : `'${v}'`)).join(', ')}]`;
}
