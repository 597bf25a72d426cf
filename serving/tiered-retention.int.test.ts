/**
 * Tiered retention (issue 18 part 3) against the real stores: a lake of twelve days spread over four
 * months, the real batch job (DuckDB, Parquet) and retention step under an injected clock, with short
 * tiers so the days span all of them (minute 3 days, hour 10, raw events 20, day and month views 90).
 * After retention no kept version's folder holds a file past its tier; the API answers a grain asked
 * past its tier `missing` with the tier's reason (HTTP 200, never zeros), in-tier answers equal an
 * independent truth, and months past the raw events come from the month views, equal to the truth
 * computed from the raw events, in UTC and in Europe/Berlin.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { METRICS, type Metric } from '../core/views.ts';
import type { RetentionTiers } from '../core/retention.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { truthSeries, truthTotals } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { BatchReader, runBatch, trimViews, ViewsStore, type SiteCalendars } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';

const DAY = 86_400_000;
const H = 3_600_000;
const NOW = Date.UTC(2026, 11, 4, 12);
const tiers: RetentionTiers = { minute: 3 * DAY, hour: 10 * DAY, events: 20 * DAY, day: 90 * DAY };
// First days kept at NOW: minute 2026-12-01, hour 11-24, events 11-14, day 09-05.
const DAYS = ['2026-08-30', '2026-09-30', '2026-10-01', '2026-10-02', '2026-10-15', '2026-10-31', '2026-11-01', '2026-11-10', '2026-11-20', '2026-11-28', '2026-12-02', '2026-12-03'];
const FIRST_RUN = DAYS.slice(0, 7);
const at = (day: string, hours = 0) => Date.parse(`${day}T00:00:00Z`) + hours * H;
const iso = (t: number) => new Date(t).toISOString();
const events = [...generateTraffic({ seed: 18, sites: ['shop', 'blog'], from: at('2026-08-30'), to: at('2026-12-04'), events: 40_000, visitorsPerSite: 150 })].filter((e) => DAYS.includes(iso(e.event_time).slice(0, 10)));
const KEYS = { shop: 'rk_shop_tiers_0123456789', blog: 'rk_blog_tiers_0123456789' };
const sites = parseSites({
  sites: [
    { id: 'shop', writeKey: 'wk_shop_tiers_0123456789', readKey: KEYS.shop },
    { id: 'blog', writeKey: 'wk_blog_tiers_0123456789', readKey: KEYS.blog, timezone: 'Europe/Berlin', currency: 'EUR' },
  ],
});
const calendars: SiteCalendars = { get: (id) => sites.get(id) };
const REASON = {
  minute: 'minute views are kept 3 days (RETENTION_VIEWS_MINUTE)',
  hour: 'hour views are kept 10 days (RETENTION_VIEWS_HOUR)',
  events: 'raw events are kept 20 days (RETENTION_LAKE)',
  day: 'day and month views are kept 90 days (RETENTION_VIEWS_DAY)',
};

let dataDir: string;
let store: ViewsStore;
let reader: BatchReader;
let s: ServingApp;
let preTrimVersion: string;

const get = (site: keyof typeof KEYS, url: string) => s.app.inject({ method: 'GET', url: `/v1/sites/${site}/${url}`, headers: { authorization: `Bearer ${KEYS[site]}` } });
interface Row {
  dimensions: string[];
  metrics: (number | null)[];
  status: string;
  reason?: string;
}

beforeAll(async () => {
  dataDir = tempDir('tiered-retention');
  await writeLakeEvents(dataDir, events);
  const options = { dataDir, versionsKeep: 10, duckdb: { memoryLimit: '1GB', threads: 2 } };
  // Written before tiers existed (no retention recorded), as an upgraded installation has them.
  const first = await runBatch({ options, now: () => at('2026-11-02', 3), sites: calendars }, { dates: FIRST_RUN });
  expect(first.status).toBe('ok');
  preTrimVersion = first.version!;
  await trimViews({ dataDir, tiers, duckdb: options.duckdb, sites: calendars }, NOW);
  // The later days by a run that knows the tiers.
  const second = await runBatch({ options: { ...options, retention: tiers }, now: () => NOW, sites: calendars }, { dates: DAYS.slice(7) });
  expect(second.status).toBe('ok');
  store = new ViewsStore(dataDir);
  reader = new BatchReader({ dataDir, now: () => NOW });
  s = await buildServingApp({ batch: reader, speed: new MemoryViewReader({ source: 'speed', events: [], coverage: {} }), sites, clock: () => NOW, options: { speedCacheMs: 0 } });
}, 120_000);

afterAll(async () => {
  await s?.app.close();
  await reader?.close();
  await runCleanups();
});

function expectTruth(rows: Row[], metrics: readonly Metric[], truth: Map<number, Record<Metric, number>>, where: string): void {
  expect(rows.length, where).toBe(truth.size);
  for (const row of rows) {
    const start = Date.parse(row.dimensions[0]!);
    const t = truth.get(start)!;
    expect(row.status, `${where} ${row.dimensions[0]}`).toBe('ok');
    metrics.forEach((m, i) => {
      const want = m === 'revenue' ? t[m] / 1_000_000 : t[m];
      if (m === 'bounce_rate' || m === 'visit_duration' || m === 'revenue') expect(row.metrics[i], `${where} ${row.dimensions[0]} ${m}`).toBeCloseTo(want, 9);
      else expect(row.metrics[i], `${where} ${row.dimensions[0]} ${m}`).toBe(want);
    });
  }
}

describe('tiered retention of the batch views', () => {
  it('leaves no file past its tier in any folder a kept version uses', () => {
    const versions = store.versions();
    expect(versions.length).toBeGreaterThanOrEqual(3);
    const expected = (day: string) => ({ minute: day >= '2026-12-01', hour: day >= '2026-11-24', events: day >= '2026-11-14', day: day >= '2026-09-05' });
    for (const v of versions)
      for (const [day, e] of Object.entries(store.manifest(v).days)) {
        const want = expected(day);
        const where = `${v} ${day}`;
        expect(existsSync(join(store.root, e.dir)), where).toBe(want.day);
        if (!want.day) continue;
        for (const t of ['minute', 'hour', 'events'] as const) expect(existsSync(store.tablePath(e.dir, t)), `${where} ${t}`).toBe(want[t]);
        expect(existsSync(store.tablePath(e.dir, 'day')), `${where} day`).toBe(true);
      }
    const current = store.current()!;
    expect(current.retention).toEqual(tiers);
    expect(Object.keys(current.days)).not.toContain('2026-08-30');
    expect(current.days['2026-11-10']!.trimmed).toEqual(['minute', 'hour', 'events']);
    expect(current.days['2026-11-28']!.trimmed).toEqual(['minute']);
    expect(current.days['2026-12-02']!.trimmed).toBeUndefined();
    // September's views left with its first day (day tier); November's were computed before 11-10's events went, incomplete.
    expect(Object.keys(current.months ?? {}).sort()).toEqual(['2026-10', '2026-11']);
    for (const v of versions) for (const [month, e] of Object.entries(store.manifest(v).months ?? {})) expect(existsSync(join(store.root, e.dir)), `${v} ${month}`).toBe(month >= '2026-10');
  });

  it('is idempotent: a second retention run at the same time publishes nothing', async () => {
    const before = store.versions();
    const r = await trimViews({ dataDir, tiers, duckdb: { memoryLimit: '1GB', threads: 2 } }, NOW);
    expect(r.version).toBeNull();
    expect(r.items).toEqual([]);
    expect(store.versions()).toEqual(before);
  });

  it('answers a grain asked past its tier as missing with the reason, HTTP 200, never zeros', async () => {
    const cases = [
      { grain: 'minute', from: at('2026-11-28', 10), to: at('2026-11-28', 11), reason: REASON.minute, n: 60 },
      { grain: 'hour', from: at('2026-11-20'), to: at('2026-11-21'), reason: REASON.hour, n: 24 },
    ];
    for (const c of cases) {
      const r = await get('shop', `series?metrics=pageviews,visitors&grain=${c.grain}&from=${iso(c.from)}&to=${iso(c.to)}`);
      expect(r.statusCode, c.grain).toBe(200);
      const body = r.json() as { results: Row[]; meta: { complete: boolean; missing_buckets: number; missing_reasons: { from: string; to: string; reason: string }[] } };
      expect(body.results).toHaveLength(c.n);
      for (const row of body.results) expect(row, c.grain).toMatchObject({ status: 'missing', metrics: [null, null], reason: c.reason });
      expect(body.meta).toMatchObject({ complete: false, missing_buckets: c.n, missing_reasons: [{ from: iso(c.from), to: iso(c.to), reason: c.reason }] });
    }
    // Filtered days are cut from the raw events: past their tier missing, within it the truth.
    const q = { site: 'shop', from: at('2026-11-10'), to: at('2026-11-21'), grain: 'day' as const, filters: { device: 'mobile' } };
    const r = await get('shop', `series?metrics=pageviews&grain=day&from=2026-11-10&to=2026-11-20&device=mobile`);
    const rows = (r.json() as { results: Row[] }).results;
    const truth = truthSeries(events, q);
    for (const row of rows) {
      const start = Date.parse(row.dimensions[0]!);
      if (start < at('2026-11-14')) expect(row.reason ?? '', row.dimensions[0]).toContain(REASON.events);
      else expect(row.metrics[0], row.dimensions[0]).toBe(truth.get(start)!.pageviews);
    }
    // Totals need the raw events: the part before their tier is missing, with the reason.
    const t = await get('shop', `totals?metrics=pageviews&from=2026-11-10&to=2026-11-20`);
    expect(t.statusCode).toBe(200);
    expect(t.json().meta).toMatchObject({ complete: false, missing_ranges: [[iso(at('2026-11-10')), iso(at('2026-11-14'))]], missing_reasons: [{ reason: REASON.events }] });
    expect(t.json().results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: at('2026-11-14'), to: at('2026-11-21') }).pageviews);
  });

  it('answers in-tier grains like the truth', async () => {
    const metrics = [...METRICS];
    for (const [grain, from, to] of [
      ['minute', at('2026-12-02', 9), at('2026-12-02', 11)],
      ['hour', at('2026-11-28'), at('2026-11-29')],
      ['day', at('2026-09-30'), at('2026-11-29')],
    ] as const) {
      const r = await get('shop', `series?metrics=${metrics.join(',')}&grain=${grain}&from=${iso(from)}&to=${iso(to)}`);
      expect(r.statusCode).toBe(200);
      const rows = (r.json() as { results: Row[] }).results;
      // Revenue of the rollups holds every currency, so a series with revenue is cut from the raw events: without it here.
      const noRevenue = metrics.filter((m) => m !== 'revenue');
      const r2 = await get('shop', `series?metrics=${noRevenue.join(',')}&grain=${grain}&from=${iso(from)}&to=${iso(to)}`);
      expectTruth((r2.json() as { results: Row[] }).results, noRevenue, truthSeries(events, { site: 'shop', from, to, grain }), `shop ${grain}`);
      if (grain !== 'day') expectTruth(rows, metrics, truthSeries(events, { site: 'shop', from, to, grain }), `shop ${grain} with revenue`);
    }
  });

  it('answers months past the raw events from the month views, equal to the truth, in UTC and in Europe/Berlin', async () => {
    const metrics = [...METRICS];
    for (const site of ['shop', 'blog'] as const) {
      const zone = site === 'blog' ? 'Europe/Berlin' : 'UTC';
      const currency = site === 'blog' ? 'EUR' : 'USD';
      const r = await get(site, `series?metrics=${metrics.join(',')}&grain=month&from=2026-09-01&to=2026-11-30`);
      expect(r.statusCode).toBe(200);
      const rows = (r.json() as { results: Row[] }).results;
      expect(rows).toHaveLength(3);
      // September is partly past the day tier: missing, with its reason.
      expect(rows[0]).toMatchObject({ status: 'missing', reason: REASON.day });
      const from = Date.parse(rows[1]!.dimensions[0]!);
      const to = Date.parse(rows[2]!.dimensions[0]!);
      expectTruth([rows[1]!], metrics, truthSeries(events, { site, from, to, grain: 'month', zone, currency }), `${site} October`);
      // November's events of 11-10 went before the month was over: its month view is incomplete, and it says so.
      expect(rows[2]).toMatchObject({ status: 'missing' });
      expect(rows[2]!.reason, site).toContain(REASON.events);
      expect(rows[2]!.reason, site).toContain('month view of 2026-11 is incomplete');
    }
  });

  it('a version published before the trim, rolled back to, reads what went as missing, never crashes', async () => {
    // Last: the pointer goes back to the first run's version (no retention recorded, its folders trimmed since).
    while (store.pointer()!.version !== preTrimVersion) store.rollback();
    expect(store.manifest(preTrimVersion).retention).toBeUndefined();
    const r = await get('shop', `series?metrics=pageviews&grain=minute&from=${iso(at('2026-10-15', 10))}&to=${iso(at('2026-10-15', 11))}`);
    expect(r.statusCode).toBe(200);
    for (const row of (r.json() as { results: Row[] }).results) expect(row).toMatchObject({ status: 'missing', metrics: [null] });
    // A day folder the day tier removed.
    const d = await get('shop', `series?metrics=pageviews&grain=day&from=2026-08-30&to=2026-08-30`);
    expect(d.statusCode).toBe(200);
    expect((d.json() as { results: Row[] }).results[0]).toMatchObject({ status: 'missing', metrics: [null] });
    // What the folders still hold answers as before.
    const h = await get('shop', `series?metrics=pageviews&grain=day&from=2026-10-01&to=2026-10-01`);
    expect((h.json() as { results: Row[] }).results[0]!.metrics[0]).toBe(truthTotals(events, { site: 'shop', from: at('2026-10-01'), to: at('2026-10-02') }).pageviews);
  });
});

