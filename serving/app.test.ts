import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { truthBreakdown, truthTotals } from '../testing/truth.ts';
import { MemoryViewReader } from './memory-view.reader.ts';
import type { BatchViews, JobsReader } from './types.ts';

const H = 3_600_000;
const D = 86_400_000;
const DAY0 = Date.UTC(2026, 2, 1);
const W = DAY0 + 3 * D;
const NOW = W + 10 * H + 30 * 60_000;
const events = [...generateTraffic({ seed: 11, sites: ['shop', 'blog'], from: DAY0, to: NOW, events: 8_000, visitorsPerSite: 400 })];
const KEYS = { shop: 'rk_shop_0123456789', blog: 'rk_blog_0123456789' };
const sites = parseSites({
  sites: [
    { id: 'shop', writeKey: 'wk_shop_0123456789', readKey: KEYS.shop, currency: 'EUR' },
    { id: 'blog', writeKey: 'wk_blog_0123456789', readKey: KEYS.blog },
  ],
});
const cover = (from: number, to: number) => ({ shop: { from, to }, blog: { from, to } });
let batch: BatchViews = new MemoryViewReader({ source: 'batch', events, coverage: cover(DAY0, W), version: 'v1' });
const speed = new MemoryViewReader({ source: 'speed', events, coverage: cover(W - 6 * H, NOW) });
const jobs: JobsReader = { list: async (n) => [{ id: 'j1', kind: 'batch', status: 'succeeded' }].slice(0, n), get: async (id) => (id === 'j1' ? { id: 'j1', kind: 'batch' } : null) };
let s: ServingApp;

const auth = (site: keyof typeof KEYS = 'shop') => ({ authorization: `Bearer ${KEYS[site]}` });
const get = (url: string, headers: Record<string, string> = auth()) => s.app.inject({ method: 'GET', url, headers });
const iso = (t: number) => new Date(t).toISOString();

beforeAll(async () => {
  s = await buildServingApp({ batch: { current: async () => batch }, speed, sites, jobs, clock: () => NOW });
});
afterAll(async () => s.app.close());

describe('series across W', () => {
  it('states W and takes each bucket from the right side', async () => {
    const r = await get(`/v1/sites/shop/series?metrics=pageviews,visitors&grain=hour&from=${iso(W - 4 * H)}&to=${iso(W + 4 * H)}`);
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.meta.watermark).toBe(iso(W));
    expect(body.meta.batch_version).toBe('v1');
    expect(body.results).toHaveLength(8);
    for (const row of body.results) {
      const start = Date.parse(row.dimensions[0]);
      const t = truthTotals(events, { site: 'shop', from: start, to: start + H });
      expect(row.source).toBe(start < W ? 'batch' : 'speed');
      expect(row.exact).toBe(start < W);
      expect(row.metrics).toEqual([t.pageviews, t.visitors]);
    }
  });

  it('answers the same through the query endpoint, with filters combined', async () => {
    const body = { site_id: 'shop', metrics: ['pageviews'], date_range: [iso(W - 2 * H), iso(W + 2 * H)], dimensions: ['time:hour'], filters: [['is', 'visit:country', ['DE']], ['is', 'device', 'mobile']] };
    const r = await s.app.inject({ method: 'POST', url: '/api/v2/query', headers: auth(), payload: body });
    expect(r.statusCode).toBe(200);
    const expected = [0, 1, 2, 3].map((i) => truthTotals(events, { site: 'shop', from: W - 2 * H + i * H, to: W - H + i * H, filters: { country: 'DE', device: 'mobile' } }).pageviews);
    expect(r.json().results.map((x: { metrics: number[] }) => x.metrics[0])).toEqual(expected);
  });

  it('marks buckets before speed coverage and after W-gap as missing, with null', async () => {
    const r = await get(`/v1/sites/shop/series?metrics=pageviews&grain=hour&from=${iso(W - 2 * H)}&to=${iso(W + 2 * H)}&source=speed`);
    const rows = r.json().results;
    expect(rows.map((x: { source: string }) => x.source)).toEqual(['speed', 'speed', 'speed', 'speed']);
    const b = await get(`/v1/sites/shop/series?metrics=pageviews&grain=hour&from=${iso(W - H)}&to=${iso(W + H)}&source=batch`);
    expect(b.json().results[1]).toMatchObject({ source: null, status: 'missing', metrics: [null] });
    expect(b.json().meta).toMatchObject({ complete: false, missing_buckets: 1, missing_ranges: [[iso(W), iso(W + H)]] });
  });

  it('uses a new batch version on the very next query', async () => {
    const url = `/v1/sites/shop/series?metrics=pageviews&grain=hour&from=${iso(W)}&to=${iso(W + 2 * H)}`;
    expect((await get(url)).json().results.map((x: { source: string }) => x.source)).toEqual(['speed', 'speed']);
    const before = batch;
    batch = new MemoryViewReader({ source: 'batch', events, coverage: cover(DAY0, W + D), version: 'v2' });
    try {
      const r = (await get(url)).json();
      expect(r.meta.batch_version).toBe('v2');
      expect(r.results.map((x: { source: string }) => x.source)).toEqual(['batch', 'batch']);
    } finally {
      batch = before;
    }
  });

  it('adds the previous period when asked', async () => {
    const r = (await get(`/v1/sites/shop/series?metrics=pageviews&grain=day&from=2026-03-03&to=2026-03-03&compare=previous_period`)).json();
    expect(r.comparison.date_range).toEqual([iso(DAY0 + D), iso(DAY0 + 2 * D)]);
    expect(r.comparison.results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: DAY0 + D, to: DAY0 + 2 * D }).pageviews);
  });
});

describe('totals, breakdowns, realtime, funnel', () => {
  it('counts visitors across W once', async () => {
    const r = (await get(`/v1/sites/shop/totals?metrics=visitors,pageviews&from=${iso(W - 6 * H)}&to=${iso(NOW)}`)).json();
    const t = truthTotals(events, { site: 'shop', from: W - 6 * H, to: NOW });
    expect(r.results[0].metrics).toEqual([t.visitors, t.pageviews]);
    expect(r.meta.uniques).toBe('union');
  });

  it('presents revenue in currency units, converted once from the stores’ micros, across W too', async () => {
    const range = `from=${iso(W - 6 * H)}&to=${iso(NOW)}`;
    const t = truthTotals(events, { site: 'shop', from: W - 6 * H, to: NOW, currency: 'EUR' });
    expect(t.revenue).toBeGreaterThan(0);
    expect((await get(`/v1/sites/shop/totals?metrics=revenue,purchases&${range}`)).json().results[0].metrics).toEqual([t.revenue / 1_000_000, t.purchases]);
    const rows = (await get(`/v1/sites/shop/breakdown/country?metric=revenue&limit=3&${range}`)).json().results;
    const top = truthBreakdown(events, { site: 'shop', from: W - 6 * H, to: NOW, dimension: 'country', metric: 'revenue', currency: 'EUR' }).slice(0, 3);
    expect(rows.map((r: { dimensions: string[]; metrics: number[] }) => [r.dimensions[0], r.metrics[0]])).toEqual(top.map((r) => [r.value, r.count / 1_000_000]));
    const csv = (await get(`/v1/sites/shop/totals?metrics=revenue&${range}&format=csv`)).body;
    expect(csv).toBe(`revenue\n${t.revenue / 1_000_000}\n`);
  });

  it('sums revenue in the site’s currency only, says how many purchases in others it left out, and breaks revenue down per currency', async () => {
    const range = `from=${iso(W - 6 * H)}&to=${iso(NOW)}`;
    const r = { site: 'shop', from: W - 6 * H, to: NOW };
    const purchases = events.filter((e) => e.site_id === 'shop' && e.type === 'purchase' && !e.is_bot && e.event_time >= r.from && e.event_time < r.to);
    const usd = purchases.filter((e) => e.currency === 'USD').length;
    expect(usd > 0 && usd < purchases.length, 'the traffic mixes EUR and USD').toBe(true);
    const eur = truthTotals(events, { ...r, currency: 'EUR' });
    const totals = (await get(`/v1/sites/shop/totals?metrics=revenue&${range}`)).json();
    expect(totals.results[0].metrics).toEqual([eur.revenue / 1_000_000]);
    expect(totals.meta.revenue).toEqual({ currency: 'EUR', other_currency_purchases: usd });
    // A site without a currency reports in USD.
    const blog = (await get(`/v1/sites/blog/totals?metrics=revenue&${range}`, auth('blog'))).json();
    expect(blog.results[0].metrics).toEqual([truthTotals(events, { ...r, site: 'blog', currency: 'USD' }).revenue / 1_000_000]);
    expect(blog.meta.revenue.currency).toBe('USD');
    const byCurrency = (await get(`/v1/sites/shop/breakdown/currency?metric=revenue&${range}`)).json();
    expect(byCurrency.results.map((x: { dimensions: string[]; metrics: number[] }) => [x.dimensions[0], x.metrics[0]]).sort()).toEqual(
      ['EUR', 'USD'].map((c) => [c, truthTotals(events, { ...r, currency: c }).revenue / 1_000_000]),
    );
    expect(byCurrency.meta.revenue).toEqual({ currency: null, other_currency_purchases: 0 });
    expect((await get(`/v1/sites/shop/totals?metrics=pageviews&${range}`)).json().meta.revenue).toBeUndefined();
    const usdOnly = (await get(`/v1/sites/shop/totals?metrics=revenue,purchases&${range}&currency=USD`)).json();
    expect(usdOnly.results[0].metrics).toEqual([0, usd]);
    expect(usdOnly.meta.revenue).toEqual({ currency: 'EUR', other_currency_purchases: usd });
  });

  it('accepts a dimension’s missing-value label as a filter, and only that dimension’s', async () => {
    const range = `from=${iso(W - 2 * H)}&to=${iso(W + 2 * H)}`;
    const direct = await get(`/v1/sites/shop/totals?metrics=pageviews&${range}&referrer=${encodeURIComponent('(direct)')}`);
    expect(direct.statusCode).toBe(200);
    expect(direct.json().results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: W - 2 * H, to: W + 2 * H, filters: { referrer: '(direct)' } }).pageviews);
    expect((await get(`/v1/sites/shop/totals?metrics=pageviews&${range}&device=${encodeURIComponent('(unknown)')}`)).statusCode).toBe(200);
    const wrong = await get(`/v1/sites/shop/totals?metrics=pageviews&${range}&country=${encodeURIComponent('(none)')}`);
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.message).toContain('(unknown) for a missing value');
  });

  it('ranks the top pages of 7 days, paged', async () => {
    const all = (await get('/v1/sites/shop/breakdown/page?metric=pageviews&limit=6&period=3d')).json();
    const page2 = (await get('/v1/sites/shop/breakdown/page?metric=pageviews&limit=3&offset=3&period=3d')).json();
    expect(all.results).toHaveLength(6);
    expect(page2.results).toEqual(all.results.slice(3));
    expect(all.results[0].dimensions[0]).toBe('/');
  });

  it('shows active visitors from speed', async () => {
    const r = (await get('/v1/sites/shop/realtime')).json();
    expect(r.active_visitors).toBe(truthTotals(events, { site: 'shop', from: NOW - 5 * 60_000, to: NOW }).visitors);
    expect(r.series).toHaveLength(30);
  });

  it('computes a funnel over batch-covered days only', async () => {
    const r = (await get(`/v1/sites/shop/funnel?steps=/,/blog/6&from=2026-03-01&to=2026-03-10`)).json();
    expect(r.meta.covered_range).toEqual([iso(DAY0), iso(W)]);
    expect(r.meta.complete).toBe(false);
    expect(r.steps[0].visitors).toBeGreaterThan(r.steps[1].visitors);
    expect(r.steps[1].conversion_rate).toBeCloseTo(r.steps[1].visitors / r.steps[0].visitors, 9);
  });
});

describe('formats', () => {
  it('writes CSV with provenance columns', async () => {
    const r = await get(`/v1/sites/shop/series?metrics=pageviews&grain=hour&from=${iso(W - H)}&to=${iso(W + H)}&format=csv`);
    expect(r.headers['content-type']).toContain('text/csv');
    const lines = r.body.trim().split('\n');
    expect(lines[0]).toBe('time,pageviews,source,exact,status');
    expect(lines[1]).toMatch(new RegExp(`^${iso(W - H)},\\d+,batch,true,ok$`));
    expect(lines[2]).toMatch(/,speed,false,ok$/);
  });

  it('writes Arrow IPC that reads back to the JSON numbers', async () => {
    const url = `/v1/sites/shop/series?metrics=pageviews,visitors&grain=hour&from=${iso(W - 2 * H)}&to=${iso(W + 2 * H)}`;
    const json = (await get(url)).json();
    const r = await s.app.inject({ method: 'GET', url, headers: { ...auth(), accept: 'application/vnd.apache.arrow.stream' } });
    expect(r.headers['content-type']).toBe('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(r.rawPayload);
    expect(table.numRows).toBe(4);
    expect(table.schema.fields.map((f) => f.name)).toEqual(['time', 'pageviews', 'visitors', 'source', 'exact', 'status']);
    expect(table.getChild('pageviews')!.toArray()).toEqual(Float64Array.from(json.results.map((x: { metrics: number[] }) => x.metrics[0])));
    expect(Number(table.getChild('time')!.get(0))).toBe(W - 2 * H);
  });
});

describe('bad requests get a 4xx naming the problem', () => {
  const range = `from=${iso(W - H)}&to=${iso(W + H)}`;
  it.each([
    ['unknown site', '/v1/sites/nope/series', auth(), 404, 'unknown site "nope"'],
    ['no key', `/v1/sites/shop/series?${range}`, {}, 401, 'no read key'],
    ['another site’s key', `/v1/sites/shop/series?${range}`, auth('blog'), 403, 'cannot read site "shop"'],
    ['inverted range', `/v1/sites/shop/series?from=${iso(W)}&to=${iso(W - H)}`, auth(), 400, 'inverted'],
    ['unknown metric', `/v1/sites/shop/series?metrics=pageviews,clicks&${range}`, auth(), 400, 'metric "clicks" is unknown'],
    ['unknown grain', `/v1/sites/shop/series?grain=fortnight&${range}`, auth(), 400, 'grain "fortnight" is unknown'],
    ['ten years at minute grain', '/v1/sites/shop/series?grain=minute&from=2016-01-01&to=2025-12-31', auth(), 400, 'too long'],
    ['a year at minute grain', '/v1/sites/shop/series?grain=minute&from=2025-01-01&to=2025-12-31', auth(), 400, 'buckets; at most 10080'],
    ['SQL in a filter value', `/v1/sites/shop/series?${range}&country=${encodeURIComponent("DE' OR 1=1 --")}`, auth(), 400, 'filter country='],
    ['SQL in a page filter', `/v1/sites/shop/totals?${range}&page=${encodeURIComponent("/x'; DROP TABLE events; --")}`, auth(), 400, 'filter page='],
    ['unknown parameter', `/v1/sites/shop/series?grian=hour&${range}`, auth(), 400, 'unknown parameter "grian"'],
    ['a bad date', '/v1/sites/shop/series?from=yesterday&to=2026-03-01', auth(), 400, 'is not a time'],
    ['half a range', '/v1/sites/shop/series?from=2026-03-01', auth(), 400, 'both from and to'],
    ['a huge limit', `/v1/sites/shop/breakdown/page?limit=100000&${range}`, auth(), 400, 'limit='],
    ['an unknown dimension', `/v1/sites/shop/breakdown/colour?${range}`, auth(), 400, 'dimension "colour" is unknown'],
    ['a one-step funnel', '/v1/sites/shop/funnel?steps=/', auth(), 400, 'steps'],
    ['a bad format', `/v1/sites/shop/series?${range}&format=xml`, auth(), 400, 'format='],
  ])('%s', async (_name, url, headers, status, message) => {
    const r = await get(url, headers as Record<string, string>);
    expect(r.statusCode).toBe(status);
    expect(r.json().error.message).toContain(message);
  });

  it.each([
    ['malformed JSON', '{"site_id": "shop",', 'application/json', 'BAD_REQUEST'],
    ['a body with an unknown field', JSON.stringify({ site_id: 'shop', metrics: ['pageviews'], date_range: '7d', colour: 1 }), 'application/json', 'BAD_REQUEST'],
    ['an unknown filter operator', JSON.stringify({ site_id: 'shop', metrics: ['pageviews'], date_range: '7d', filters: [['matches', 'page', ['/a']]] }), 'application/json', 'BAD_REQUEST'],
    ['two metrics in a breakdown', JSON.stringify({ site_id: 'shop', metrics: ['pageviews', 'visitors'], date_range: '7d', dimensions: ['event:page'] }), 'application/json', 'BAD_REQUEST'],
  ])('POST with %s', async (_n, payload, type, code) => {
    const r = await s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { ...auth(), 'content-type': type }, payload });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe(code);
  });
});

describe('caching, metrics, docs, jobs, dashboard', () => {
  it('serves a repeated query’s batch part from the cache and counts it', async () => {
    const url = `/v1/sites/blog/series?metrics=sessions&grain=day&from=2026-03-01&to=2026-03-02`;
    await get(url, auth('blog'));
    const hitsBefore = s.cache.stats.hits;
    await get(url, auth('blog'));
    expect(s.cache.stats.hits).toBeGreaterThan(hitsBefore);
    const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/twinlane_serving_cache_lookups_total\{store="batch",result="hit"\} \d+/);
    expect(text).toMatch(/twinlane_serving_requests_total\{route="\/v1\/sites\/:site\/series",method="GET",status="200"\} \d+/);
    expect(text).toContain('twinlane_serving_request_duration_seconds_bucket');
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v2/query');
    expect((await s.app.inject({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
  });

  it('shows the job ledger to the admin key only, and not at all without one configured', async () => {
    const ADMIN = 'adm_0123456789abcdef0123456789';
    const admin = await buildServingApp({ batch: { current: async () => batch }, speed, sites, jobs, clock: () => NOW, options: { adminKey: ADMIN } });
    try {
      const as = (key: string | undefined, url: string) => admin.app.inject({ method: 'GET', url, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
      expect((await as(ADMIN, '/v1/jobs?limit=5')).json()).toEqual({ jobs: [{ id: 'j1', kind: 'batch', status: 'succeeded' }] });
      expect((await as(ADMIN, '/v1/jobs/zzz')).statusCode).toBe(404);
      for (const key of [undefined, 'rk_shop', `${ADMIN}x`]) {
        const r = await as(key, '/v1/jobs');
        expect(r.statusCode, String(key)).toBe(401);
        expect(r.json().error.message).toMatch(/admin key/);
        expect((await as(key, '/v1/jobs/j1')).statusCode).toBe(401);
      }
    } finally {
      await admin.app.close();
    }
    // No admin key configured: the routes are off, ledger or not.
    expect((await s.app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(404);
    const bare = await buildServingApp({ batch: { current: async () => null }, speed, sites });
    expect((await bare.app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(404);
    await bare.app.close();
  });

  it('serves the dashboard page and chart.js from node_modules', async () => {
    const page = await s.app.inject({ method: 'GET', url: '/dashboard/shop' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('/dashboard/assets/chart.umd.min.js');
    const lib = await s.app.inject({ method: 'GET', url: '/dashboard/assets/chart.umd.min.js' });
    expect(lib.statusCode).toBe(200);
    expect(lib.body.length).toBeGreaterThan(100_000);
    expect((await s.app.inject({ method: 'GET', url: '/dashboard/nope' })).statusCode).toBe(404);
  });
});
