/**
 * Acceptance of the serving layer against the real stores: events through Kafka into the real
 * speed store (Redis) and the real lake + batch job (Parquet/DuckDB), then the API merging
 * them at W, a batch run moving W forward, bad requests, and the dashboard in headless
 * Chromium showing what the API returns. The API cases run once per batch-view store: the batch
 * job's files (BATCH_VIEWS_STORE=duckdb) and the same versions published into ClickHouse
 * (BATCH_VIEWS_STORE=clickhouse, over a copy of the lake so each store's W moves on its own).
 */
import { cpSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger.ts';
import { parseSites } from '../core/sites.ts';
import { alignDown } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { runCleanups, testConfig } from '../testing/helpers.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { truthBreakdown, truthFunnel, truthMultiBreakdown, truthTotals, truthVisitPages, type TruthRange } from '../testing/truth.ts';
import { startPipeline, type PipelineFixture } from './testing/pipeline.fixture.ts';
import { lakePaths, runBatch, type RunRecord } from '../batch/index.ts';
import { viewsFixture } from '../clickhouse/testing/views.fixture.ts';
import { onCleanup, tempDir } from '../testing/helpers.ts';
import type { BatchSource } from './types.ts';

const H = 3_600_000;
const D = 86_400_000;
const NOW = Date.now();
/**
 * The day W reaches once both past days are batched. It starts at least 6 hours before now, so
 * speed holds hours of traffic past W whatever the time of day the suite runs (just after
 * midnight UTC, the current day alone would hold a few minutes of it).
 */
const LAST_DAY = alignDown(NOW - 6 * H, 'day');
const START = LAST_DAY - 2 * D;
const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const iso = (t: number) => new Date(t).toISOString();
const events = [...generateTraffic({ seed: 2026, sites: ['shop', 'blog'], from: START, to: NOW - 2 * 60_000, events: 16_000, visitorsPerSite: 900 })];
const KEY = 'rk_shop_integration';
const BLOG_KEY = 'rk_blog_integration';
/** The blog's days are Kolkata's (UTC+05:30): the dashboard labels its local days. */
const BLOG_ZONE = 'Asia/Kolkata';
/** A saved segment of the shop: desktop visits from outside Germany, not in Edge. */
const SEGMENT = { name: 'Desktop abroad', filters: [['is', 'device', ['desktop']], ['is_not', 'country', ['DE']], ['contains_not', 'browser', ['Edge']]] as [string, string, string[]][] };
const GOALS = [{ name: 'Docs', page: '/docs/*' }, { name: 'Signup', event: 'signup' }];
const sites = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_integration', readKey: KEY, segments: [SEGMENT], goals: GOALS, properties: ['plan'] }, { id: 'blog', writeKey: 'wk_blog_integration', readKey: BLOG_KEY, timezone: BLOG_ZONE }] });
const truth = (from: number, to: number, filters?: TruthRange['filters']) => truthTotals(events, { site: 'shop', from, to, filters });
/** HyperLogLog: 0.81% standard error; allow 3% or 2 visitors on the small hourly counts. */
const closeToUniques = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.max(2, want * 0.03));

let fx: PipelineFixture;
let s: ServingApp;

const get = (url: string) => s.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });
type Row = { dimensions: string[]; metrics: (number | null)[]; source: string | null; exact: boolean; status: string };

/** A batch-view store as serving reads it, and the batch job feeding it. */
interface BatchStore {
  source: BatchSource;
  runBatchFor(days: string[]): Promise<RunRecord>;
}

const STORES: Record<'duckdb' | 'clickhouse', () => BatchStore> = {
  duckdb: () => ({ source: { current: () => fx.batch.snapshot() }, runBatchFor: (days) => fx.runBatchFor(days) }),
  clickhouse: () => {
    const dataDir = tempDir('serving-ch');
    cpSync(lakePaths(fx.dataDir).events, lakePaths(dataDir).events, { recursive: true });
    const views = viewsFixture(dataDir);
    onCleanup(() => views.close());
    return {
      source: { current: () => views.reader.snapshot() },
      async runBatchFor(days) {
        const r = await runBatch({ options: { dataDir, versionsKeep: 5, duckdb: { memoryLimit: '512MB', threads: 2 } } }, { dates: days });
        if (r.status === 'ok') expect((await views.publish()).version).toBe(r.version);
        return r;
      },
    };
  },
};

beforeAll(async () => {
  fx = await startPipeline(testConfig(), { events, speedTtlMs: 96 * H, propertyKeys: (site) => sites.get(site)?.properties ?? [] });
}, 180_000);

afterAll(async () => {
  await runCleanups();
});

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])('a series across W on the real stores, batch views in %s', (storeName) => {
  let store: BatchStore;
  beforeAll(async () => {
    store = STORES[storeName]();
    const first = await store.runBatchFor([day(START)]);
    expect(first.status).toBe('ok');
    s = await buildServingApp({ batch: store.source, speed: fx.speed, sites, logger: createLogger({ level: 'error', pretty: false }, 'serving-test') });
  }, 180_000);
  afterAll(async () => {
    await s?.app.close();
  });

  const url = `/v1/sites/shop/series?metrics=pageviews,visitors&grain=hour&from=${iso(START + 12 * H)}&to=${iso(NOW)}`;

  it('takes each bucket from the right side, says so, and a batch run moving W forward switches the newly covered buckets', async () => {
    const r1 = await get(url);
    expect(r1.statusCode).toBe(200);
    const b1 = r1.json();
    const w1 = START + D;
    expect(b1.meta.watermark).toBe(iso(w1));
    expect(b1.meta.complete).toBe(true);
    const rows1: Row[] = b1.results;
    expect(rows1).toHaveLength(Math.ceil((NOW - START - 12 * H) / H));
    for (const row of rows1) {
      const start = Date.parse(row.dimensions[0]!);
      const t = truth(start, start + H);
      expect(row.status).toBe('ok');
      if (start < w1) {
        expect(row).toMatchObject({ source: 'batch', exact: true, metrics: [t.pageviews, t.visitors] });
      } else {
        expect(row).toMatchObject({ source: 'speed', exact: false });
        expect(row.metrics[0]).toBe(t.pageviews);
        closeToUniques(row.metrics[1]!, t.visitors);
      }
    }

    const second = await store.runBatchFor([day(START + D)]);
    expect(second.status).toBe('ok');
    const b2 = (await get(url)).json();
    expect(b2.meta.watermark).toBe(iso(LAST_DAY));
    expect(b2.meta.batch_version).not.toBe(b1.meta.batch_version);
    for (const row of b2.results as Row[]) {
      const start = Date.parse(row.dimensions[0]!);
      const t = truth(start, start + H);
      if (start < LAST_DAY) expect(row).toMatchObject({ source: 'batch', exact: true, metrics: [t.pageviews, t.visitors] });
      else expect(row.source).toBe('speed');
    }
    // The operator's comparison: speed alone still answers the newly covered day, with the same counts.
    const speedOnly = (await get(`${url}&source=speed`)).json();
    const yesterday = (speedOnly.results as Row[]).filter((r) => Date.parse(r.dimensions[0]!) >= START + D && Date.parse(r.dimensions[0]!) < LAST_DAY);
    expect(yesterday.length).toBe(24);
    for (const row of yesterday) expect(row.metrics[0]).toBe(truth(Date.parse(row.dimensions[0]!), Date.parse(row.dimensions[0]!) + H).pageviews);
  });

  it('counts visitors over a range spanning W once, and filters on both sides', async () => {
    const from = START + 12 * H;
    const t = (await get(`/v1/sites/shop/totals?metrics=visitors,pageviews,revenue&from=${iso(from)}&to=${iso(NOW)}`)).json();
    const w = Date.parse(t.meta.watermark);
    const all = truth(from, NOW);
    expect(t.meta.uniques).toBe('union');
    expect(t.meta.sources).toEqual(['batch', 'speed']);
    closeToUniques(t.results[0].metrics[0], all.visitors);
    expect(t.results[0].metrics[0]).toBeLessThan(truth(from, w).visitors + truth(w, NOW).visitors);
    expect(t.results[0].metrics[1]).toBe(all.pageviews);
    expect(t.results[0].metrics[2]).toBe(all.revenue / 1_000_000); // the stores' micros, presented once as currency units

    const de = (await get(`/v1/sites/shop/series?metrics=pageviews&grain=day&from=${day(START)}&to=${day(LAST_DAY)}&country=DE&device=mobile`)).json();
    expect((de.results as Row[]).map((r) => r.metrics[0])).toEqual([START, START + D, LAST_DAY].map((d0) => truth(d0, d0 + D, { country: 'DE', device: 'mobile' }).pageviews));
  });

  it('filters with is, is_not, contains and contains_not over several values, and saved segments, on both sides of W', async () => {
    const from = START + 12 * H;
    const body = (over: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', date_range: [iso(from), iso(NOW)], ...over } });
    const cases: { filters: unknown[]; conditions: NonNullable<TruthRange['conditions']> }[] = [
      { filters: [['is', 'country', ['DE', 'US']]], conditions: [{ op: 'is', dimension: 'country', values: ['DE', 'US'] }] },
      { filters: [['is_not', 'visit:country', ['DE', 'FR']]], conditions: [{ op: 'is_not', dimension: 'country', values: ['DE', 'FR'] }] },
      { filters: [['contains', 'page', ['/blog/', '/docs/']]], conditions: [{ op: 'contains', dimension: 'page', values: ['/blog/', '/docs/'] }] },
      { filters: [['contains_not', 'browser', ['Chrome']], ['is', 'device', ['desktop', 'tablet']]], conditions: [{ op: 'contains_not', dimension: 'browser', values: ['Chrome'] }, { op: 'is', dimension: 'device', values: ['desktop', 'tablet'] }] },
    ];
    for (const c of cases) {
      const where = JSON.stringify(c.filters);
      const page = c.conditions.some((x) => x.dimension === 'page');
      // Speed keeps visitors per single country or device value (serving/README.md lists the rest as 422).
      const countryOnly = c.conditions.every((x) => x.dimension === 'country');
      const metrics = page ? ['pageviews'] : countryOnly ? ['pageviews', 'events', 'visitors'] : ['pageviews', 'events'];
      const r = await body({ metrics, filters: c.filters });
      expect(r.statusCode, `${where}: ${r.body}`).toBe(200);
      const b = r.json();
      expect(b.meta.sources, where).toEqual(['batch', 'speed']);
      const want = truthTotals(events, { site: 'shop', from, to: NOW, conditions: c.conditions });
      expect(want.pageviews, `${where}: the truth selects page views`).toBeGreaterThan(0);
      expect(b.results[0].metrics[0], `${where} pageviews`).toBe(want.pageviews);
      if (!page) expect(b.results[0].metrics[1], `${where} events`).toBe(want.events);
      if (countryOnly) closeToUniques(b.results[0].metrics[2], want.visitors);
      // Day by day: batch's days exact, the last day's from speed.
      const series = (await body({ metrics: ['pageviews'], filters: c.filters, dimensions: ['time:day'], date_range: [day(START), day(LAST_DAY)] })).json();
      const days = [START, START + D, LAST_DAY];
      expect((series.results as Row[]).map((x) => x.metrics[0]), `${where} per day`).toEqual(days.map((d0) => truthTotals(events, { site: 'shop', from: d0, to: Math.min(d0 + D, NOW), conditions: c.conditions }).pageviews));
    }
    // The segment's clauses are ANDed with the query's own; the answer echoes them all.
    const segAnswer = await body({ metrics: ['pageviews', 'events'], segment: SEGMENT.name, filters: [['is_not', 'os', ['Linux']]] });
    expect(segAnswer.statusCode, segAnswer.body).toBe(200);
    const seg = segAnswer.json();
    const segConditions: NonNullable<TruthRange['conditions']> = [
      { op: 'is_not', dimension: 'country', values: ['DE'] },
      { op: 'contains_not', dimension: 'browser', values: ['Edge'] },
      { op: 'is_not', dimension: 'os', values: ['Linux'] },
    ];
    const segTruth = truthTotals(events, { site: 'shop', from, to: NOW, filters: { device: 'desktop' }, conditions: segConditions });
    expect(segTruth.pageviews).toBeGreaterThan(0);
    expect(seg.results[0].metrics[0]).toBe(segTruth.pageviews);
    expect(seg.results[0].metrics[1]).toBe(segTruth.events);
    expect(seg.query.segment).toBe(SEGMENT.name);
    expect(seg.query.filters).toHaveLength(4);
    const viaGet = (await get(`/v1/sites/shop/totals?metrics=pageviews&from=${iso(from)}&to=${iso(NOW)}&segment=${encodeURIComponent(SEGMENT.name)}&filters=${encodeURIComponent(JSON.stringify([['is_not', 'os', ['Linux']]]))}`)).json();
    expect(viaGet.results[0].metrics[0]).toBe(segTruth.pageviews);
  });

  it('counts goal conversions on both sides of W, event goals\' conversion rates too, page goals\' where batch answers', async () => {
    const post = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', ...payload } });
    const docs: NonNullable<TruthRange['conditions']> = [{ op: 'matches', dimension: 'page', values: ['/docs/*'] }];
    const signup: NonNullable<TruthRange['conditions']> = [{ op: 'is', dimension: 'event_name', values: ['signup'] }];
    const from = START + 12 * H;
    const across = (await post({ metrics: ['conversions'], date_range: [iso(from), iso(NOW)], dimensions: ['event:goal'] })).json();
    expect(across.meta.sources).toEqual(['batch', 'speed']);
    const conv = (c: typeof docs, a: number, z: number) => {
      const t = truthTotals(events, { site: 'shop', from: a, to: z, conditions: c });
      return c === docs ? t.pageviews : t.events + t.purchases;
    };
    const want = [['Docs', conv(docs, from, NOW)], ['Signup', conv(signup, from, NOW)]].sort((a, b) => (b[1] as number) - (a[1] as number));
    expect(want[1]![1]).toBeGreaterThan(0);
    expect(across.results.map((r: Row) => [r.dimensions[0], r.metrics[0]])).toEqual(want);
    // Batch's days: conversion rates exact (converting visitors / visitors).
    const w = Date.parse(across.meta.watermark);
    for (const [name, c] of [['Docs', docs], ['Signup', signup]] as const) {
      const r = (await post({ metrics: ['conversions', 'visitors', 'conversion_rate'], date_range: [iso(START), iso(w)], filters: [['is', 'event:goal', [name]]] })).json();
      const hit = truthTotals(events, { site: 'shop', from: START, to: w, conditions: c });
      expect(r.results[0].metrics, name).toEqual([conv(c, START, w), hit.visitors, hit.visitors / truth(START, w).visitors]);
      expect(r.meta.exact).toBe(true);
    }
    // Across W: an event goal's converting visitors unite batch's ids with speed's per-name sketches.
    const signupRate = await post({ metrics: ['conversions', 'visitors', 'conversion_rate'], date_range: [iso(from), iso(NOW)], filters: [['is', 'event:goal', ['Signup']]] });
    expect(signupRate.statusCode, signupRate.body).toBe(200);
    const hit = truthTotals(events, { site: 'shop', from, to: NOW, conditions: signup });
    const [c, v, rate] = signupRate.json().results[0].metrics as number[];
    expect(c).toBe(conv(signup, from, NOW));
    closeToUniques(v!, hit.visitors);
    expect(Math.abs(rate! - hit.visitors / truth(from, NOW).visitors)).toBeLessThan(0.02);
    expect(signupRate.json().meta.uniques).toBe('union');
    // The speed store keeps no visitors per page: a page goal's rate across W is serving/README.md's listed 422.
    const pageRate = await post({ metrics: ['conversion_rate'], date_range: [iso(from), iso(NOW)], filters: [['is', 'event:goal', ['Docs']]] });
    expect(pageRate.statusCode, pageRate.body).toBe(422);
    expect(pageRate.json().error.message).toMatch(/visitor sketches/);
  });

  it('breaks down by country × device across W, every combination of the truth', async () => {
    const from = START + 12 * H;
    const r = await s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', metrics: ['pageviews'], date_range: [iso(from), iso(NOW)], dimensions: ['visit:country', 'visit:device'], pagination: { limit: 1000 } } });
    expect(r.statusCode, r.body).toBe(200);
    const b = r.json();
    expect(b.meta.sources).toEqual(['batch', 'speed']);
    const want = truthMultiBreakdown(events, { site: 'shop', from, to: NOW, dimensions: ['country', 'device'], metric: 'pageviews' });
    expect(want.length).toBeGreaterThan(10);
    const got = new Map((b.results as Row[]).map((x) => [JSON.stringify(x.dimensions), x.metrics[0]]));
    expect(got.size).toBe(want.length);
    for (const w of want) expect(got.get(JSON.stringify(w.values)), JSON.stringify(w.values)).toBe(w.count);
  });

  it("ranks visits' entry and exit pages over batch days like the truth, and says why not past W", async () => {
    const post = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', metrics: ['visitors'], pagination: { limit: 1000 }, ...payload } });
    const w = START + D;
    for (const which of ['entry', 'exit'] as const) {
      const r = await post({ date_range: [iso(START), iso(w)], dimensions: [`visit:${which}_page`] });
      expect(r.statusCode, r.body).toBe(200);
      const want = truthVisitPages(events, { site: 'shop', from: START, to: w, which, metric: 'visitors' });
      expect(want.length).toBeGreaterThan(10);
      expect((r.json().results as Row[]).map((x) => [x.dimensions[0], x.metrics[0]])).toEqual(want.map((x) => [x.value, x.count]));
    }
    const past = await post({ date_range: [iso(START), iso(NOW)], dimensions: ['visit:entry_page'] });
    expect(past.statusCode, past.body).toBe(422);
    expect(past.json().error.message).toMatch(/no pages per visit/);
  });

  it('compares with a custom range and with the year before', async () => {
    const q = { site_id: 'shop', metrics: ['pageviews'], dimensions: ['time:day'], date_range: [day(START + D), day(LAST_DAY)] };
    const custom = (await s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { ...q, include: { comparisons: { mode: 'custom', date_range: [day(START), day(START + D)] } } } })).json();
    expect(custom.comparison.mode).toBe('custom');
    expect(custom.comparison.date_range).toEqual([iso(START), iso(START + 2 * D)]);
    expect((custom.comparison.results as Row[]).map((x) => x.metrics[0])).toEqual([START, START + D].map((d0) => truth(d0, d0 + D).pageviews));
    expect(custom.comparison.results.every((x: Row) => x.source === 'batch')).toBe(true);
    const yoy = (await get(`/v1/sites/shop/totals?metrics=pageviews&from=${day(START)}&to=${day(LAST_DAY)}&compare=year_over_year`)).json();
    const yearAgo = new Date(START);
    yearAgo.setUTCFullYear(yearAgo.getUTCFullYear() - 1);
    expect(yoy.comparison.date_range[0]).toBe(iso(yearAgo.getTime()));
    // Nothing was collected a year ago: no store covers it, so the comparison is missing, not zero.
    expect(yoy.comparison.results[0].metrics[0]).toBeNull();
    expect(yoy.comparison.meta.complete).toBe(false);
  });

  it('ranks the top pages across W like the ground truth', async () => {
    const r = (await get(`/v1/sites/shop/breakdown/page?metric=pageviews&limit=5&from=${iso(START)}&to=${iso(NOW)}`)).json();
    const top = truthBreakdown(events, { site: 'shop', from: START, to: NOW, dimension: 'page', metric: 'pageviews' }).slice(0, 5);
    expect((r.results as Row[]).map((x) => [x.dimensions[0], x.metrics[0]])).toEqual(top.map((x) => [x.value, x.count]));
  });

  it('answers realtime and a funnel over batch days from the real stores', async () => {
    const rt = (await get('/v1/sites/shop/realtime')).json();
    // The truth's window is the one the answer was computed over (its last minute), not a second
    // reading of the wall clock, which may already be in the next minute.
    const lastMinute = Date.parse(rt.series.at(-1).dimensions[0]);
    closeToUniques(rt.active_visitors, truth(lastMinute - 4 * 60_000, lastMinute + 60_000).visitors);
    expect(rt.series).toHaveLength(30);
    const steps = ['/', '/docs/1', 'event:signup'];
    const fr = await get(`/v1/sites/shop/funnel?steps=${steps.join(',')}&from=${day(START)}&to=${day(LAST_DAY)}`);
    expect(fr.statusCode, fr.body).toBe(200);
    const f = fr.json();
    const reference = truthFunnel(events, { site: 'shop', from: START, to: LAST_DAY, steps: steps.map((v) => (v.startsWith('event:') ? { kind: 'event', value: v.slice(6) } : { kind: 'page', value: v })) });
    expect(f.steps.map((x: { visitors: number }) => x.visitors)).toEqual(reference);
    expect(f.meta.covered_range).toEqual([iso(START), iso(LAST_DAY)]);
    expect(f.steps[1].visitors).toBeGreaterThan(0);
    // A step repeated: the store folds each session's steps in order (one event may match two steps).
    const repeated = ['/', '/docs/1', '/', '/'];
    const fr2 = (await get(`/v1/sites/shop/funnel?steps=${repeated.join(',')}&from=${day(START)}&to=${day(LAST_DAY)}`)).json();
    expect(fr2.steps.map((x: { visitors: number }) => x.visitors)).toEqual(truthFunnel(events, { site: 'shop', from: START, to: LAST_DAY, steps: repeated.map((value) => ({ kind: 'page' as const, value })) }));
  });

  it.each([
    ['unknown site', '/v1/sites/nope/series', 404],
    ['inverted range', `/v1/sites/shop/series?from=${iso(NOW)}&to=${iso(START)}`, 400],
    ['unknown metric', '/v1/sites/shop/series?metrics=clicks', 400],
    ['unknown grain', '/v1/sites/shop/series?grain=fortnight', 400],
    ['ten years at minute grain', '/v1/sites/shop/series?grain=minute&from=2016-01-01&to=2025-12-31', 400],
    ['SQL in a filter value', `/v1/sites/shop/totals?browser=${encodeURIComponent("Chrome' OR '1'='1")}`, 400],
  ])('rejects %s with a 4xx and a message', async (_n, url, status) => {
    const r = await get(url);
    expect(r.statusCode).toBe(status);
    expect(r.json().error.message.length).toBeGreaterThan(10);
  });

  it('rejects a key of another site', async () => {
    const r = await s.app.inject({ method: 'GET', url: '/v1/sites/shop/totals', headers: { authorization: 'Bearer rk_blog_integration' } });
    expect(r.statusCode).toBe(403);
  });
});

describe('dashboard in headless Chromium', () => {
  let browser: Browser | undefined;
  afterAll(async () => browser?.close());

  it('shows the numbers the API returns, the W boundary and a live visitor counter', async () => {
    // The page and the test ask relative ranges (period=7d) at different moments: one pinned clock
    // makes both resolve to the same range, so the bars are compared with the same question.
    const at = Date.now();
    const live = await buildServingApp({ batch: { current: () => fx.batch.snapshot() }, speed: fx.speed, sites, clock: () => at, options: { realtimeRefreshMs: 500 } });
    const ask = (url: string) => live.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });
    try {
      await live.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (live.app.server.address() as { port: number }).port;
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
      const consoleErrors: string[] = [];
      page.on('pageerror', (e) => consoleErrors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/dashboard/shop#key=${KEY}`);
      await page.waitForFunction(() => (window as unknown as { twinlane?: { loads: number; realtimeUpdates: number } }).twinlane?.loads! >= 1 && (window as unknown as { twinlane: { realtimeUpdates: number } }).twinlane.realtimeUpdates >= 2, null, { timeout: 30_000 });
      const shown = await page.evaluate(() => {
        const t = (window as unknown as { twinlane: { charts: Record<string, { data: { labels: string[]; datasets: { label: string; data: (number | null)[] }[] }; options: { plugins: { twinlane?: { boundaryIndex: number | null } } } }>; responses: Record<string, unknown>; errors: string[] } }).twinlane;
        const c = (id: string) => ({ labels: t.charts[id]!.data.labels, data: t.charts[id]!.data.datasets.map((d) => d.data) });
        return { series: c('series'), boundary: t.charts.series!.options.plugins.twinlane!.boundaryIndex, page: c('page'), country: c('country'), funnel: c('funnel'), responses: t.responses, errors: t.errors, active: document.getElementById('active-visitors')!.textContent };
      });
      expect(consoleErrors).toEqual([]);
      expect(shown.errors, JSON.stringify(shown.errors)).toEqual([]);

      // The line chart holds exactly the series the API gave the page, split by source at W.
      const series = shown.responses.series as { results: Row[]; meta: { watermark: string } };
      expect(shown.series.data[0]).toEqual(series.results.map((r) => (r.source === 'batch' ? r.metrics[0] : null)));
      expect(shown.series.data[1]).toEqual(series.results.map((r) => (r.source === 'speed' ? r.metrics[0] : null)));
      expect(shown.boundary).toBe(series.results.findIndex((r) => r.dimensions[0]! >= series.meta.watermark));
      expect(shown.boundary).toBeGreaterThan(0);

      // Bars and funnel equal what the API answers to the same queries now.
      const pages = (await ask('/v1/sites/shop/breakdown/page?metric=pageviews&limit=10&period=7d')).json();
      expect(shown.page.labels).toEqual(pages.results.map((r: Row) => r.dimensions[0]));
      expect(shown.page.data[0]).toEqual(pages.results.map((r: Row) => r.metrics[0]));
      const countries = (await ask('/v1/sites/shop/breakdown/country?metric=visitors&limit=10&period=7d')).json();
      expect(shown.country.labels).toEqual(countries.results.map((r: Row) => r.dimensions[0]));
      // Acquisition: page views by channel as the API answers them; choosing a UTM dimension reloads it.
      const acquisition = async () => page.evaluate(() => {
        const c = (window as unknown as { twinlane: { charts: Record<string, { data: { labels: string[]; datasets: { data: (number | null)[] }[] } }> } }).twinlane.charts.acquisition!;
        return { labels: c.data.labels, data: c.data.datasets[0]!.data };
      });
      for (const [choice, dimension] of [['visit:channel', 'channel'], ['visit:utm_medium', 'utm_medium']]) {
        if (choice !== 'visit:channel') {
          const n = await page.evaluate(() => (window as unknown as { twinlane: { loads: number } }).twinlane.loads);
          await page.selectOption('#acquisition-dim', choice!);
          await page.waitForFunction((k) => (window as unknown as { twinlane: { loads: number } }).twinlane.loads > k, n, { timeout: 30_000 });
        }
        const want = (await ask(`/v1/sites/shop/breakdown/${dimension}?metric=pageviews&limit=10&period=7d`)).json();
        expect(want.results.length, dimension).toBeGreaterThan(1);
        expect(await acquisition(), dimension).toEqual({ labels: want.results.map((r: Row) => r.dimensions[0]), data: want.results.map((r: Row) => r.metrics[0]) });
      }
      // Custom properties: the site's listed key, its custom events by value as the API answers them.
      await page.waitForFunction(() => (window as unknown as { twinlane: { charts: Record<string, unknown> } }).twinlane.charts.property !== undefined, undefined, { timeout: 30_000 });
      const plans = (await ask('/v1/sites/shop/breakdown/event:props:plan?metric=events&limit=10&period=7d')).json();
      expect(plans.results.map((r: Row) => r.dimensions[0]).sort()).toEqual(['free', 'pro']);
      expect(await page.evaluate(() => {
        const c = (window as unknown as { twinlane: { charts: Record<string, { data: { labels: string[]; datasets: { data: (number | null)[] }[] } }> } }).twinlane.charts.property!;
        return { labels: c.data.labels, data: c.data.datasets[0]!.data };
      })).toEqual({ labels: plans.results.map((r: Row) => r.dimensions[0]), data: plans.results.map((r: Row) => r.metrics[0]) });
      const funnel = shown.responses.funnel as { steps: { step: string; visitors: number }[] };
      expect(shown.funnel.data[0]).toEqual(funnel.steps.map((x) => x.visitors));
      expect(funnel.steps[0]!.visitors).toBeGreaterThan(0);

      // Goals: conversions over the range, conversion rates over batch days, as the API answers them.
      const post = async (payload: Record<string, unknown>) => (await live.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', date_range: '7d', ...payload } })).json();
      const conversions = await post({ metrics: ['conversions'], dimensions: ['event:goal'], pagination: { limit: 20 } });
      const rates = await post({ metrics: ['conversion_rate'], dimensions: ['event:goal'], pagination: { limit: 20 }, source: 'batch' });
      const rateOf = new Map((rates.results as Row[]).map((r) => [r.dimensions[0], r.metrics[0] as number]));
      expect(rateOf.get('Signup')).toBeGreaterThan(0);
      const goalRows = await page.$$eval('#goals tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(goalRows).toEqual((conversions.results as Row[]).map((r) => [r.dimensions[0], (r.metrics[0] as number).toLocaleString('en'), `${(rateOf.get(r.dimensions[0]!)! * 100).toFixed(1)}%`]));
      // The two-dimension table: country × device rows as the API ranks them.
      const twoDim = await post({ metrics: ['pageviews'], dimensions: ['country', 'device'], pagination: { limit: 10 } });
      const tableRows = await page.$$eval('#two-dim tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(tableRows.length).toBe(10);
      expect(tableRows).toEqual((twoDim.results as Row[]).map((r) => [...r.dimensions, (r.metrics[0] as number).toLocaleString('en')]));
      // The shop's saved segment is offered, and choosing it with a filter operator and a
      // year-over-year comparison reloads the panels: those the speed store cannot answer under
      // filters say so (serving/README.md's 422 list), the series and the table are filtered.
      expect(await page.$$eval('#segment option', (os) => os.map((o) => o.textContent))).toEqual(['none', SEGMENT.name]);
      // The filter builder offers the listed property as a dimension.
      expect(await page.$$eval('#f-dim option', (os) => os.map((o) => (o as HTMLOptionElement).value))).toContain('event:props:plan');
      await page.selectOption('#segment', SEGMENT.name);
      await page.selectOption('#f-op', 'is_not');
      await page.selectOption('#f-dim', 'browser');
      await page.fill('#f-values', 'Firefox,Safari');
      await page.selectOption('#compare', 'year_over_year');
      const loads = await page.evaluate(() => (window as unknown as { twinlane: { loads: number } }).twinlane.loads);
      await page.click('#controls button[type="submit"]');
      await page.waitForFunction((n) => (window as unknown as { twinlane: { loads: number } }).twinlane.loads > n, loads, { timeout: 30_000 });
      const after = await page.evaluate(() => (window as unknown as { twinlane: { errors: string[]; responses: Record<string, { query: { segment?: string; filters: unknown[] }; comparison?: { mode: string }; results: Row[] }> } }).twinlane);
      for (const e of after.errors) expect(e).toMatch(/^(totals|page|referrer|country|device|goals|goalRates|property): speed /);
      expect(after.responses.series!.query.segment).toBe(SEGMENT.name);
      expect(after.responses.series!.comparison!.mode).toBe('year_over_year');
      expect(after.responses.series!.query.filters).toContainEqual(['is_not', 'browser', ['Firefox', 'Safari']]);
      const filteredTable = await page.$$eval('#two-dim tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(filteredTable).toEqual(after.responses.twoDim!.results.map((r) => [...r.dimensions, (r.metrics[0] as number).toLocaleString('en')]));
      expect(filteredTable.every((r) => r[1] === 'desktop' && r[0] !== 'DE')).toBe(true);

      // The live counter shows the realtime answer and keeps refreshing itself.
      const rt = shown.responses.realtime as { active_visitors: number };
      expect(shown.active).toBe(rt.active_visitors.toLocaleString('en'));
      const before = await page.evaluate(() => (window as unknown as { twinlane: { realtimeUpdates: number } }).twinlane.realtimeUpdates);
      await page.waitForFunction((n) => (window as unknown as { twinlane: { realtimeUpdates: number } }).twinlane.realtimeUpdates > n, before, { timeout: 10_000 });

      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/serving-dashboard.png', fullPage: true });
    } finally {
      await live.app.close();
    }
  });

  it("labels a non-UTC site's local days and shows its bounce rate for the default range", async () => {
    const at = Date.now();
    const live = await buildServingApp({ batch: { current: () => fx.batch.snapshot() }, speed: fx.speed, sites, clock: () => at });
    try {
      await live.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (live.app.server.address() as { port: number }).port;
      browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
      const consoleErrors: string[] = [];
      page.on('pageerror', (e) => consoleErrors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/dashboard/blog#key=${BLOG_KEY}`);
      await page.waitForFunction((n) => (window as unknown as { twinlane?: { loads: number } }).twinlane?.loads! >= n, 1, { timeout: 30_000 });

      // The default range (last 7 days): the bounce rate card shows the API's number, not a dash.
      const totals = (await live.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${BLOG_KEY}` }, payload: { site_id: 'blog', metrics: ['bounce_rate'], date_range: '7d' } })).json();
      const bounce = totals.results[0].metrics[0] as number;
      expect(bounce).toBeGreaterThan(0);
      expect(await page.textContent('.card[data-metric="bounce_rate"] .value')).toBe(`${(bounce * 100).toFixed(1)}%`);
      expect(await page.textContent('[data-testid="timezone"]')).toBe(BLOG_ZONE);

      // At day grain, the labels are Kolkata's last seven dates (Intl, not the code under test).
      await page.selectOption('#grain', 'day');
      await page.click('#controls button[type="submit"]');
      await page.waitForFunction((n) => (window as unknown as { twinlane: { loads: number } }).twinlane.loads >= n, 2, { timeout: 30_000 });
      const labels = await page.evaluate(() => (window as unknown as { twinlane: { charts: Record<string, { data: { labels: string[] } }> } }).twinlane.charts.series!.data.labels);
      const localDate = (t: number) => new Intl.DateTimeFormat('en-CA', { timeZone: BLOG_ZONE, month: '2-digit', day: '2-digit' }).format(t);
      expect(labels).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => localDate(at - i * D)));
      expect(await page.evaluate(() => (window as unknown as { twinlane: { errors: string[] } }).twinlane.errors)).toEqual([]);
      expect(consoleErrors).toEqual([]);
      mkdirSync('test-results', { recursive: true });
      await page.screenshot({ path: 'test-results/serving-dashboard-zone.png', fullPage: true });
    } finally {
      await live.app.close();
    }
  });
});
