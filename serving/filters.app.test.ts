/**
 * Filter operators, saved segments and comparison modes through the HTTP API, with in-memory
 * stores on either side of W: every answer against testing/truth.ts over the raw events, and every
 * bad filter, segment or comparison a 400 naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import type { FilterCondition } from '../core/views.ts';
import { truthBreakdown, truthTotals } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const H = 3_600_000;
const D = 86_400_000;
const DAY0 = Date.UTC(2026, 2, 1);
const W = DAY0 + 3 * D;
const NOW = W + 10 * H + 30 * 60_000;
/** Traffic a year before too, so year-over-year has something to compare with. */
const events = [
  ...generateTraffic({ seed: 21, sites: ['shop'], from: DAY0, to: NOW, events: 6_000, visitorsPerSite: 400 }),
  ...generateTraffic({ seed: 22, sites: ['shop'], from: Date.UTC(2025, 2, 1), to: Date.UTC(2025, 2, 5), events: 3_000, visitorsPerSite: 300 }),
];
const KEY = 'rk_shop_0123456789';
const SEGMENT = { name: 'Mobile search', filters: [['is', 'device', ['mobile']], ['contains', 'referrer', ['google', 'duckduckgo']]] as [string, string, string[]][] };
const sites = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: KEY, segments: [SEGMENT] }] });
const batch = new MemoryViewReader({ source: 'batch', events, coverage: { shop: { from: Date.UTC(2025, 0, 1), to: W } }, version: 'v1' });
const speed = new MemoryViewReader({ source: 'speed', events, coverage: { shop: { from: W - 6 * H, to: NOW } } });
const iso = (t: number) => new Date(t).toISOString();
let s: ServingApp;

const query = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', ...payload } });
const get = (url: string) => s.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });

beforeAll(async () => {
  s = await buildServingApp({ batch: { current: async () => batch }, speed, sites, clock: () => NOW });
});
afterAll(async () => s.app.close());

describe('filter operators across W', () => {
  const cases: [unknown[], FilterCondition[]][] = [
    [[['is', 'country', ['DE', 'US']]], [{ op: 'is', dimension: 'country', values: ['DE', 'US'] }]],
    [[['is_not', 'visit:device', ['mobile', 'tablet']]], [{ op: 'is_not', dimension: 'device', values: ['mobile', 'tablet'] }]],
    [[['contains', 'event:page', ['/docs/', '/blog/']], ['contains_not', 'page', ['/1']]], [{ op: 'contains', dimension: 'page', values: ['/docs/', '/blog/'] }, { op: 'contains_not', dimension: 'page', values: ['/1'] }]],
    [[['is', 'device', 'desktop'], ['is_not', 'country', ['(unknown)', 'GB']]], [{ op: 'is', dimension: 'device', values: ['desktop'] }, { op: 'is_not', dimension: 'country', values: ['(unknown)', 'GB'] }]],
  ];
  it.each(cases)('totals and a breakdown under %j equal the truth', async (filters, conditions) => {
    const from = W - 20 * H;
    const r = await query({ metrics: ['pageviews', 'visitors', 'events'], date_range: [iso(from), iso(NOW)], filters });
    expect(r.statusCode, r.body).toBe(200);
    const b = r.json();
    expect(b.meta.sources).toEqual(['batch', 'speed']);
    const t = truthTotals(events, { site: 'shop', from, to: NOW, conditions });
    expect(t.pageviews).toBeGreaterThan(0);
    expect(b.results[0].metrics).toEqual([t.pageviews, t.visitors, t.events]);
    const br = (await query({ metrics: ['pageviews'], date_range: [iso(from), iso(NOW)], filters, dimensions: ['visit:browser'], pagination: { limit: 100 } })).json();
    const want = truthBreakdown(events, { site: 'shop', from, to: NOW, dimension: 'browser', metric: 'pageviews', conditions });
    expect(want.length).toBeGreaterThan(0);
    expect(br.results.map((x: { dimensions: string[]; metrics: number[] }) => [x.dimensions[0], x.metrics[0]])).toEqual(want.map((x) => [x.value, x.count]));
    expect(b.query.filters.length).toBe(filters.length);
  });

  it("filters by a visit's entry or exit page before W like the truth, and echoes them by their API names", async () => {
    const from = DAY0;
    const conditions: FilterCondition[] = [{ op: 'is', dimension: 'entry_page', values: ['/', '/pricing'] }, { op: 'contains_not', dimension: 'exit_page', values: ['/docs/'] }];
    const r = await query({ metrics: ['pageviews', 'visitors', 'sessions'], date_range: [iso(from), iso(W)], filters: [['is', 'visit:entry_page', ['/', '/pricing']], ['contains_not', 'exit_page', ['/docs/']]] });
    expect(r.statusCode, r.body).toBe(200);
    const t = truthTotals(events, { site: 'shop', from, to: W, conditions });
    expect(t.pageviews).toBeGreaterThan(0);
    expect(t.pageviews).toBeLessThan(truthTotals(events, { site: 'shop', from, to: W }).pageviews);
    expect(r.json().results[0].metrics).toEqual([t.pageviews, t.visitors, t.sessions]);
    expect(r.json().query.filters).toEqual([['is', 'visit:entry_page', ['/', '/pricing']], ['contains_not', 'visit:exit_page', ['/docs/']]]);
    const bad = await query({ metrics: ['pageviews'], date_range: [iso(from), iso(W)], filters: [['is', 'visit:entry_page', ['no-slash']]] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/expected a URL path starting with \//);
  });

  it('takes the same filters as JSON in the GET aliases, with the dimension parameters', async () => {
    const filters = [['is_not', 'country', ['DE']]];
    const r = (await get(`/v1/sites/shop/totals?metrics=pageviews&from=${iso(W - 5 * H)}&to=${iso(NOW)}&device=mobile&filters=${encodeURIComponent(JSON.stringify(filters))}`)).json();
    expect(r.results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: W - 5 * H, to: NOW, filters: { device: 'mobile' }, conditions: [{ op: 'is_not', dimension: 'country', values: ['DE'] }] }).pageviews);
  });
});

describe('saved segments', () => {
  it('lists the site’s segments and applies one by name, ANDed with the query’s filters', async () => {
    expect((await get('/v1/sites/shop/segments')).json()).toEqual({ segments: [SEGMENT] });
    const from = W - 30 * H;
    const r = (await query({ metrics: ['pageviews', 'visitors'], date_range: [iso(from), iso(NOW)], segment: SEGMENT.name, filters: [['is_not', 'country', ['US']]] })).json();
    const t = truthTotals(events, { site: 'shop', from, to: NOW, filters: { device: 'mobile' }, conditions: [{ op: 'contains', dimension: 'referrer', values: ['google', 'duckduckgo'] }, { op: 'is_not', dimension: 'country', values: ['US'] }] });
    expect(t.pageviews).toBeGreaterThan(0);
    expect(r.results[0].metrics).toEqual([t.pageviews, t.visitors]);
    expect(r.query.segment).toBe(SEGMENT.name);
    const viaGet = (await get(`/v1/sites/shop/totals?metrics=pageviews&from=${iso(from)}&to=${iso(NOW)}&segment=${encodeURIComponent(SEGMENT.name)}&country=FR`)).json();
    expect(viaGet.results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from, to: NOW, filters: { device: 'mobile', country: 'FR' }, conditions: [{ op: 'contains', dimension: 'referrer', values: ['google', 'duckduckgo'] }] }).pageviews);
  });

  it('refuses a sites file with a duplicate segment name or a segment without filters', () => {
    expect(() => parseSites({ sites: [{ id: 'a', writeKey: 'wk_a_0123456789', readKey: 'rk_a_0123456789', segments: [SEGMENT, SEGMENT] }] })).toThrow(/duplicate segment name/);
    expect(() => parseSites({ sites: [{ id: 'a', writeKey: 'wk_a_0123456789', readKey: 'rk_a_0123456789', segments: [{ name: 'x', filters: [] }] }] })).toThrow(/segments/);
  });
});

describe('comparisons', () => {
  const day = (t: number) => iso(t).slice(0, 10);
  it('compares a series with the same dates a year before, bucket by bucket', async () => {
    const r = (await query({ metrics: ['pageviews'], date_range: [day(DAY0), day(DAY0 + 2 * D)], dimensions: ['time:day'], include: { comparisons: { mode: 'year_over_year' } } })).json();
    expect(r.comparison.mode).toBe('year_over_year');
    expect(r.comparison.date_range).toEqual([iso(Date.UTC(2025, 2, 1)), iso(Date.UTC(2025, 2, 4))]);
    const want = [0, 1, 2].map((i) => truthTotals(events, { site: 'shop', from: Date.UTC(2025, 2, 1 + i), to: Date.UTC(2025, 2, 2 + i) }).pageviews);
    expect(want.every((n) => n > 0)).toBe(true);
    expect(r.comparison.results.map((x: { metrics: number[] }) => x.metrics[0])).toEqual(want);
  });

  it('compares totals across W with a custom range, and the GET alias with compare=custom', async () => {
    const from = W - 3 * H;
    const r = (await query({ metrics: ['pageviews', 'visitors'], date_range: [iso(from), iso(NOW)], include: { comparisons: { mode: 'custom', date_range: [day(DAY0), day(DAY0)] } } })).json();
    const t = truthTotals(events, { site: 'shop', from: DAY0, to: DAY0 + D });
    expect(r.comparison.results[0].metrics).toEqual([t.pageviews, t.visitors]);
    const g = (await get(`/v1/sites/shop/totals?metrics=pageviews&period=24h&compare=custom&compare_from=${day(DAY0 + D)}&compare_to=${day(DAY0 + D)}`)).json();
    expect(g.comparison.results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: DAY0 + D, to: DAY0 + 2 * D }).pageviews);
    const yoy = (await get(`/v1/sites/shop/totals?metrics=pageviews&from=${day(DAY0)}&to=${day(DAY0 + D)}&compare=year_over_year`)).json();
    expect(yoy.comparison.results[0].metrics[0]).toBe(truthTotals(events, { site: 'shop', from: Date.UTC(2025, 2, 1), to: Date.UTC(2025, 2, 3) }).pageviews);
  });
});

describe('bad filters, segments and comparisons are 400s naming the problem', () => {
  const body = (over: Record<string, unknown>) => ({ metrics: ['pageviews'], date_range: '7d', ...over });
  it.each([
    ['an unknown operator', body({ filters: [['matches', 'page', ['/a']]] }), /operator "matches" is unknown/],
    ['an unknown dimension', body({ filters: [['is', 'visit:planet', ['Mars']]] }), /filter dimension "visit:planet" is unknown/],
    ['a contains that matches everything', body({ filters: [['contains', 'page', ['']]] }), /would match everything/],
    ['no values', body({ filters: [['is_not', 'country', []]] }), /at least one value/],
    ['too many values', body({ filters: [['is', 'country', Array.from({ length: 51 }, (_, i) => `A${String.fromCharCode(65 + (i % 26))}`)]] }), /at most 50 values/],
    ['a value of the wrong shape', body({ filters: [['is_not', 'country', ['Germany']]] }), /two-letter country code/],
    ['quotes in a contains value', body({ filters: [['contains', 'page', ["/a' OR 1=1"]]] }), /contains .* is not valid/],
    ['too many clauses', body({ filters: Array.from({ length: 21 }, () => ['is_not', 'country', ['DE']]) }), /at most 20 filter clauses/],
    ['an unknown segment', body({ segment: 'nope' }), /segment "nope" is unknown/],
    ['an unknown comparison mode', body({ include: { comparisons: { mode: 'last_week' } } }), /comparison mode "last_week" is unknown/],
    ['a custom comparison without a range', body({ include: { comparisons: { mode: 'custom' } } }), /custom needs a date_range/],
    ['a range on another mode', body({ include: { comparisons: { mode: 'previous_period', date_range: ['2026-01-01', '2026-01-02'] } } }), /takes no date_range/],
    ['an inverted custom range', body({ include: { comparisons: { mode: 'custom', date_range: ['2026-02-01', '2026-01-02'] } } }), /inverted or empty range/],
  ])('%s', async (_name, payload, message) => {
    const r = await query(payload);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });

  it.each([
    ['filters that are not JSON', 'filters=%5Bnope'],
    ['filters that are not clauses', `filters=${encodeURIComponent('[{"a":1}]')}`],
    ['compare_from without compare=custom', 'compare_from=2026-01-01&compare_to=2026-01-02'],
    ['an unknown compare mode', 'compare=sometimes'],
  ])('GET: %s', async (_name, params) => {
    const r = await get(`/v1/sites/shop/totals?${params}`);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message.length).toBeGreaterThan(10);
  });
});
