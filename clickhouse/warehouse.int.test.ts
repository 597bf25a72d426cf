/**
 * The warehouse of exact events against the stack's ClickHouse (a database of its own): two
 * generated days in a lake, the real batch job, then the warehouse step. Loaded twice, re-run
 * after a late event and a late duplicate, rolled back: every time exactly one row per event id,
 * and counts per site and hour equal to the truth computed here from the generated events.
 * The README's example queries run read-only against the loaded days.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, type DuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { batchOptions, runBatch, ViewsStore } from '../batch/index.ts';
import { warehousePorts, type WarehousePorts } from '../apps/index.ts';
import { testConfig } from '../testing/helpers.ts';
import { ClickHouseConnection, clickhouseOptions, qualifiedName, quoteIdentifier, quoteString, runReadOnlySql, SQL_DEFAULTS } from './index.ts';
import { SQL_EXAMPLES, SQL_FIRST_LOOK } from './sql.examples.ts';
import { countsPerSiteHour, dedupeEarliest, writeLakeEvents } from './testing/lake.fixture.ts';

const DAY = 86_400_000;
const D1 = Date.UTC(2026, 2, 14);
const DAYS = ['2026-03-14', '2026-03-15'];
const database = `test_wh_${randomUUID().slice(0, 8)}`;
const dataDir = mkdtempSync(join(tmpdir(), 'twinlane-warehouse-'));
const config = testConfig({ DATA_DIR: dataDir, CLICKHOUSE_DATABASE: database, WAREHOUSE_ENABLED: 'true' });
const chOptions = clickhouseOptions(config);
if (!chOptions) throw new Error('the stack started no ClickHouse and CLICKHOUSE_URL is unset: is clickhouse-server installed (`make setup`)?');
const ch = new ClickHouseConnection(chOptions, database);
const signal = new AbortController().signal;
let db: DuckDB;
let ports: WarehousePorts;
let written: TwinlaneEvent[] = [];

/** A hostile event: quotes, backslashes, line breaks, NUL, Unicode, a text "\N", an empty property. */
function hostile(base: TwinlaneEvent): TwinlaneEvent {
  return {
    ...base,
    event_id: randomUUID(),
    title: 'it\'s "quoted", a \\ backslash,\ttab\nnew line \0 NUL, Grüße 🙂',
    utm_campaign: '\\N',
    utm_term: '',
    properties: { "k'ey": 'va\\lue', 'new\nline': '"x", [y]', '': '' },
  };
}

async function write(events: TwinlaneEvent[], name: string): Promise<void> {
  await writeLakeEvents(db, dataDir, events, name);
  written.push(...events);
}

async function batch(req: { dates?: string[]; dirty?: boolean }): Promise<void> {
  const r = await runBatch({ options: batchOptions(config) }, req);
  expect(r.status, r.errors.join('; ')).not.toBe('failed');
}

/** Exactly one row per event id, and per site and hour the truth's counts. */
async function expectWarehouseEqualsTruth(): Promise<void> {
  const truth = dedupeEarliest(written);
  const events = qualifiedName(database, 'events');
  const [{ rows, ids }] = await ch.rows<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${events}`, 'count');
  expect(Number(rows)).toBe(truth.length);
  expect(Number(ids)).toBe(truth.length);
  const got = await ch.rows<{ site_id: string; hour: string; n: string }>(
    `SELECT site_id, formatDateTime(event_time, '%Y-%m-%dT%H') AS hour, count() AS n FROM ${events} GROUP BY site_id, hour`,
    'per hour',
  );
  const gotMap = new Map(got.map((r) => [`${r.site_id}|${r.hour}`, Number(r.n)]));
  const want = countsPerSiteHour(truth);
  for (const [key, n] of want) expect(gotMap.get(key), key).toBe(n);
  expect(gotMap.size).toBe(want.size);
}

beforeAll(async () => {
  db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(dataDir, 'fixture-tmp') });
  const traffic = [...generateTraffic({ seed: 15, sites: ['shop', 'blog', 'docs'], from: D1, to: D1 + 2 * DAY, events: 12_000 })];
  const odd = hostile(traffic[0]!);
  // A duplicate delivered later (received later): the first copy stays.
  const redelivered = { ...traffic[10]!, received_time: traffic[10]!.received_time + 60_000, path: '/redelivered' };
  // A visitor who completes the README's funnel: page view, add to cart 10 minutes later, purchase 10 minutes after that.
  const f = traffic.find((e) => e.event_time > D1 + DAY && !e.is_bot)!;
  const step = (i: number, type: TwinlaneEvent['type'], name: string): TwinlaneEvent => ({ ...f, event_id: randomUUID(), visitor_id: 'v-funnel', site_id: 'shop', type, name, event_time: f.event_time + i * 600_000, received_time: f.event_time + i * 600_000, revenue_micros: type === 'purchase' ? 12_340_000 : null, currency: type === 'purchase' ? 'EUR' : null });
  const funnel = [step(0, 'pageview', 'pageview'), step(1, 'custom', 'add_to_cart'), step(2, 'purchase', 'purchase')];
  await write([...traffic, odd, ...funnel], 'first');
  await write([redelivered], 'redelivered');
  ports = warehousePorts(config, silentLogger())!;
  expect(ports.loader).toBeDefined();
});

afterAll(async () => {
  await ch.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`, 'cleanup').catch(() => undefined);
  await ch.close();
  await ports?.close();
  db?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('warehouse of exact events', () => {
  it('loads each computed day once; loading again changes nothing', async () => {
    await batch({ dates: DAYS });
    const first = await ports.warehouse.sync({ signal });
    expect(first.loaded.map((d) => d.day)).toEqual(DAYS);
    expect(first.loaded.reduce((n, d) => n + d.duplicates, 0)).toBe(1);
    await expectWarehouseEqualsTruth();

    const second = await ports.warehouse.sync({ signal });
    expect(second).toMatchObject({ loaded: [], dropped: [], unchanged: 2 });
    await expectWarehouseEqualsTruth();
  });

  it('keeps every value exactly: quotes, backslashes, NUL, Unicode, a text "\\N", empty strings, NULLs and properties', async () => {
    const odd = written.find((e) => e.utm_campaign === '\\N')!;
    const [row] = await ch.rows<Record<string, unknown>>(
      `SELECT title, utm_campaign, utm_term, utm_content, property_keys, property_values, event_time_ms, toUnixTimestamp(event_time) AS seconds, is_bot FROM ${qualifiedName(database, 'events')} WHERE event_id = ${quoteString(odd.event_id)}`,
      'hostile row',
    );
    expect(row).toEqual({
      title: odd.title,
      utm_campaign: '\\N',
      utm_term: '',
      utm_content: null,
      property_keys: Object.keys(odd.properties),
      property_values: Object.values(odd.properties),
      event_time_ms: String(odd.event_time),
      seconds: Math.floor(odd.event_time / 1000),
      is_bot: odd.is_bot ? 1 : 0,
    });
    const redelivered = written.find((e) => e.path === '/redelivered')!;
    const [kept] = await ch.rows<{ path: string }>(`SELECT path FROM ${qualifiedName(database, 'events')} WHERE event_id = ${quoteString(redelivered.event_id)}`, 'kept copy');
    expect(kept!.path).not.toBe('/redelivered');
  });

  it('after a late event and a late earlier copy, the re-run day holds the new truth, still once per id', async () => {
    const base = written.find((e) => e.event_time < D1 + DAY && e.path !== '/redelivered')!;
    const late = { ...base, event_id: randomUUID(), event_time: D1 + 5 * 3_600_000, received_time: D1 + 2 * DAY + 3_600_000 };
    const victim = written.find((e) => e.event_time >= D1 + 6 * 3_600_000 && e.event_time < D1 + DAY && e.event_id !== base.event_id)!;
    // Received before the copy already loaded: by the dedupe rule it replaces it.
    const earlier = { ...victim, received_time: victim.received_time - 1_000, path: '/earlier-copy' };
    await write([late, earlier], 'late');
    await batch({ dirty: true });
    const r = await ports.warehouse.sync({ signal });
    expect(r.loaded.map((d) => d.day)).toEqual([DAYS[0]]);
    expect(r.unchanged).toBe(1);
    await expectWarehouseEqualsTruth();
    const [kept] = await ch.rows<{ path: string }>(`SELECT path FROM ${qualifiedName(database, 'events')} WHERE event_id = ${quoteString(victim.event_id)}`, 'kept copy');
    expect(kept!.path).toBe('/earlier-copy');
  });

  it('a backfill of a day and a rollback each swap the day again, leaving one copy of each event', async () => {
    await batch({ dates: [DAYS[1]!] });
    expect((await ports.warehouse.sync({ signal })).loaded.map((d) => d.day)).toEqual([DAYS[1]]);
    await expectWarehouseEqualsTruth();
    new ViewsStore(dataDir).rollback();
    expect((await ports.warehouse.sync({ signal })).loaded.map((d) => d.day)).toEqual([DAYS[1]]);
    await expectWarehouseEqualsTruth();
    const loads = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(database, 'warehouse_loads')}`, 'loads');
    expect(Number(loads[0]!.n)).toBe(5);
  });

  it("runs the README's example queries read-only, and refuses writes", async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const results = [];
    for (const example of [{ title: 'first look', sql: SQL_FIRST_LOOK }, ...SQL_EXAMPLES]) {
      if (example.sql !== SQL_FIRST_LOOK) expect(readme, example.title).toContain(example.sql);
      // The data is of March 2026: "now" is the end of it.
      const r = await runReadOnlySql(ch, example.sql.replaceAll('now()', `toDateTime('2026-03-16 00:00:00', 'UTC')`), SQL_DEFAULTS);
      expect(r.rows.length, example.title).toBeGreaterThan(0);
      results.push(r);
    }
    const [, funnel, retention, revenue] = results;
    expect(funnel!.rows.map((r) => Number(r[0]))).toContain(3);
    expect(retention!.columns.map((c) => c.name)).toEqual(['cohort', 'weeks_later', 'visitors']);
    const revenueTruth = dedupeEarliest(written).filter((e) => e.type === 'purchase').reduce((n, e) => n + (e.revenue_micros ?? 0), 0) / 1e6;
    expect(revenue!.rows.reduce((n, r) => n + Number(r[3]), 0)).toBeCloseTo(revenueTruth, 6);
    await expect(runReadOnlySql(ch, `INSERT INTO ${qualifiedName(database, 'events')} (event_id) VALUES ('x')`, SQL_DEFAULTS)).rejects.toMatchObject({ code: 'CLICKHOUSE_READONLY' });
  });

  it("refuses a database that mirrors another live DATA_DIR, and takes over one whose DATA_DIR is gone", async () => {
    const otherDir = mkdtempSync(join(tmpdir(), 'twinlane-warehouse-other-'));
    const otherConfig = testConfig({ DATA_DIR: otherDir, CLICKHOUSE_DATABASE: database, WAREHOUSE_ENABLED: 'true' });
    const other = warehousePorts(otherConfig, silentLogger())!;
    try {
      const mine = [...generateTraffic({ seed: 16, sites: ['shop'], from: D1 + 3 * DAY, to: D1 + 4 * DAY, events: 500 })];
      await writeLakeEvents(db, otherDir, mine, 'other');
      expect((await runBatch({ options: batchOptions(otherConfig) }, { dates: ['2026-03-17'] })).status).toBe('ok');
      await expect(other.warehouse.sync({ signal })).rejects.toMatchObject({ code: 'WAREHOUSE_OTHER_OWNER', retriable: false, message: expect.stringMatching(/give this pipeline its own CLICKHOUSE_DATABASE/) });
      await expectWarehouseEqualsTruth();

      rmSync(dataDir, { recursive: true, force: true });
      const r = await other.warehouse.sync({ signal });
      expect(r).toMatchObject({ loaded: [{ day: '2026-03-17', rows: 500 }], dropped: DAYS });
      written = mine;
      await expectWarehouseEqualsTruth();
    } finally {
      await other.close();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});
