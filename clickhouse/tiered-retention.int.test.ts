/**
 * Tiered retention with the batch views in ClickHouse (issue 18 part 3): after the batch job's
 * retention step trimmed the files, the publisher drops the same tables' rows of those folders, and
 * the ClickHouse reader answers a minute series past its tier `missing` with the reason, and in-tier
 * buckets like the DuckDB reader over the same version.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB } from '../core/duckdb.ts';
import type { RetentionTiers } from '../core/retention.ts';
import { BatchReader, runBatch, trimViews, ViewsStore } from '../batch/index.ts';
import { viewsSource } from '../apps/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { ClickHouseConnection, ClickHouseViewsReader, clickhouseOptions, qualifiedName, quoteString, ViewsPublisher } from './index.ts';
import { writeLakeEvents } from './testing/lake.fixture.ts';
import { viewsFixture } from './testing/views.fixture.ts';

const DAY = 86_400_000;
const H = 3_600_000;
const NOW = Date.UTC(2026, 11, 4, 12);
const tiers: RetentionTiers = { minute: 3 * DAY, hour: 10 * DAY, events: 20 * DAY, day: 90 * DAY };
const DAYS = ['2026-11-10', '2026-11-28', '2026-12-02'];
const at = (day: string, hours = 0) => Date.parse(`${day}T00:00:00Z`) + hours * H;
const events = [...generateTraffic({ seed: 31, sites: ['shop'], from: at('2026-11-10'), to: at('2026-12-03'), events: 20_000, visitorsPerSite: 100 })].filter((e) => DAYS.includes(new Date(e.event_time).toISOString().slice(0, 10)));

let dataDir: string;
let ch: ClickHouseConnection;
let reader: ClickHouseViewsReader;
let duck: BatchReader;
let database: string;
let close: () => Promise<void>;

beforeAll(async () => {
  dataDir = tempDir('ch-tiers');
  const db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(dataDir, 'tmp') });
  try {
    await writeLakeEvents(db, dataDir, events, 'tiers');
  } finally {
    db.close();
  }
  const options = { dataDir, versionsKeep: 5, duckdb: { memoryLimit: '1GB', threads: 2 } };
  expect((await runBatch({ options, now: () => NOW }, { dates: DAYS })).status).toBe('ok');
  const fixture = viewsFixture(dataDir);
  close = () => fixture.close();
  database = fixture.config.CLICKHOUSE_DATABASE;
  // First the untrimmed version, so the rows are there; then retention and a second publish.
  await fixture.publish();
  await trimViews({ dataDir, tiers, duckdb: options.duckdb }, NOW);
  ch = new ClickHouseConnection(clickhouseOptions(fixture.config)!);
  const publisher = new ViewsPublisher({ entry: ch, shards: [ch], database, duckdb: { ...options.duckdb, tempDir: join(dataDir, 'chtmp') }, workDir: join(dataDir, 'parts'), clock: () => NOW });
  const r = await publisher.sync(viewsSource(dataDir));
  expect(r.trimmed?.length).toBeGreaterThan(0);
  reader = new ClickHouseViewsReader({ connection: ch, database, readTimeoutMs: 30_000 }, () => NOW);
  duck = new BatchReader({ dataDir, now: () => NOW });
}, 120_000);

afterAll(async () => {
  await duck?.close();
  await close?.();
  await runCleanups();
});

describe('tiered retention in the ClickHouse views', () => {
  it('drops the rows of the tables the retention step trimmed', async () => {
    const current = new ViewsStore(dataDir).current()!;
    const count = async (table: string, day: string) => Number((await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(database, table)} WHERE dir = ${quoteString(current.days[day]!.dir)}`, 'count'))[0]!.n);
    for (const t of ['view_minute', 'view_hour', 'view_events']) expect(await count(t, '2026-11-10'), t).toBe(0);
    expect(await count('view_minute', '2026-11-28')).toBe(0);
    expect(await count('view_hour', '2026-11-28')).toBeGreaterThan(0);
    expect(await count('view_day', '2026-11-10')).toBeGreaterThan(0);
    expect(await count('view_minute', '2026-12-02')).toBeGreaterThan(0);
  });

  it('answers past-tier buckets missing with the reason and in-tier ones like the DuckDB reader', async () => {
    const past = await reader.series({ site: 'shop', grain: 'minute', from: at('2026-11-28', 10), to: at('2026-11-28', 11), metrics: ['pageviews'] });
    expect(past).toHaveLength(60);
    for (const p of past) expect(p).toEqual({ start: p.start, values: {}, missing: 'minute views are kept 3 days (RETENTION_VIEWS_MINUTE)' });
    for (const q of [
      { site: 'shop', grain: 'minute' as const, from: at('2026-12-02', 10), to: at('2026-12-02', 12), metrics: ['pageviews' as const, 'visitors' as const] },
      { site: 'shop', grain: 'day' as const, from: at('2026-11-10'), to: at('2026-12-03'), metrics: ['pageviews' as const, 'visitors' as const] },
      { site: 'shop', grain: 'day' as const, from: at('2026-11-10'), to: at('2026-12-03'), metrics: ['pageviews' as const], filters: { device: 'mobile' } },
    ])
      expect(await reader.series(q), q.grain).toEqual(await duck.series(q));
    expect((await reader.current())!.retained('events')).toEqual((await duck.current())!.retained('events'));
  });
});
