/**
 * Breakdowns by several dimensions through the HTTP API, in-memory stores on either side of W:
 * one row per combination of values against testing/truth.ts, pages of them, the metric's total,
 * and the shapes refused naming the problem.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { truthMultiBreakdown, truthTotals, truthVisitPages } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const H = 3_600_000;
const D = 86_400_000;
const DAY0 = Date.UTC(2026, 2, 1);
const W = DAY0 + 2 * D;
const NOW = W + 9 * H;
const events = [...generateTraffic({ seed: 41, sites: ['shop'], from: DAY0, to: NOW, events: 5_000, visitorsPerSite: 400 })];
const KEY = 'rk_shop_0123456789';
const sites = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: KEY }] });
const batch = new MemoryViewReader({ source: 'batch', events, coverage: { shop: { from: DAY0, to: W } }, version: 'v1' });
const speed = new MemoryViewReader({ source: 'speed', events, coverage: { shop: { from: W - 2 * H, to: NOW } } });
const iso = (t: number) => new Date(t).toISOString();
let s: ServingApp;
const query = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', ...payload } });
type Row = { dimensions: string[]; metrics: number[] };

beforeAll(async () => {
  s = await buildServingApp({ batch: { current: async () => batch }, speed, sites, clock: () => NOW });
});
afterAll(async () => s.app.close());

describe('breakdowns by several dimensions across W', () => {
  const from = DAY0 + 7 * H;
  it('country × device and device × browser × os: every combination of the truth, in pages, with the total', async () => {
    for (const dimensions of [['visit:country', 'visit:device'], ['device', 'browser', 'os']]) {
      const names = dimensions.map((d) => d.replace('visit:', '')) as ('country' | 'device' | 'browser' | 'os')[];
      const want = truthMultiBreakdown(events, { site: 'shop', from, to: NOW, dimensions: names, metric: 'pageviews' });
      expect(want.length).toBeGreaterThan(5);
      const got: Row[] = [];
      for (let offset = 0; offset < want.length; offset += 7) {
        const r = await query({ metrics: ['pageviews'], date_range: [iso(from), iso(NOW)], dimensions, pagination: { limit: 7, offset }, include: { totals: true } });
        expect(r.statusCode, r.body).toBe(200);
        const b = r.json();
        expect(b.query.dimensions).toEqual(names);
        expect(b.meta.sources).toEqual(['batch', 'speed']);
        expect(b.meta.totals).toEqual({ pageviews: truthTotals(events, { site: 'shop', from, to: NOW }).pageviews });
        got.push(...b.results);
      }
      expect(got).toHaveLength(want.length);
      const truth = new Map(want.map((w) => [JSON.stringify(w.values), w.count]));
      for (const row of got) expect(row.metrics[0], JSON.stringify(row.dimensions)).toBe(truth.get(JSON.stringify(row.dimensions)));
      expect(new Set(got.map((r) => JSON.stringify(r.dimensions))).size).toBe(want.length);
    }
  });

  it('answers the GET alias with comma-separated dimensions, under a filter', async () => {
    const r = (await s.app.inject({ method: 'GET', url: `/v1/sites/shop/breakdown/country,device?metric=events&limit=1000&from=${iso(from)}&to=${iso(NOW)}&browser=Safari`, headers: { authorization: `Bearer ${KEY}` } })).json();
    const want = truthMultiBreakdown(events, { site: 'shop', from, to: NOW, dimensions: ['country', 'device'], metric: 'events', filters: { browser: 'Safari' } });
    expect(r.results.map((x: Row) => [...x.dimensions, x.metrics[0]]).sort()).toEqual(want.map((w) => [...w.values, w.count]).sort());
  });

  it("ranks visits' entry and exit pages (a batch-covered range) like the truth", async () => {
    for (const [dimension, which] of [['visit:entry_page', 'entry'], ['exit_page', 'exit']] as const) {
      const r = await query({ metrics: ['visitors'], date_range: [iso(DAY0), iso(W)], dimensions: [dimension], filters: [['is_not', 'country', ['US']]], pagination: { limit: 1000 } });
      expect(r.statusCode, r.body).toBe(200);
      const want = truthVisitPages(events, { site: 'shop', from: DAY0, to: W, which, metric: 'visitors', conditions: [{ op: 'is_not', dimension: 'country', values: ['US'] }] });
      expect(want.length).toBeGreaterThan(5);
      expect(r.json().query.dimensions).toEqual([`visit:${which}_page`]);
      expect(r.json().results.map((x: Row) => [x.dimensions[0], x.metrics[0]])).toEqual(want.map((w) => [w.value, w.count]));
    }
  });

  it.each([
    ['an entry page filter on a value that is no page', { dimensions: ['country'], filters: [['is', 'visit:entry_page', ['x']]] }, /entry_page="x" is not valid: expected a URL path/],
    ['entry pages with another dimension', { dimensions: ['visit:entry_page', 'country'] }, /stands alone/],
    ['entry pages under a page filter', { dimensions: ['visit:exit_page'], filters: [['contains', 'page', ['/docs']]] }, /page filter/],
  ])('refuses %s with a 400', async (_n, over, message) => {
    const r = await query({ metrics: ['pageviews'], date_range: '7d', ...over });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });

  it.each([
    ['four dimensions', ['country', 'device', 'browser', 'os'], /at most 3/],
    ['a dimension twice', ['country', 'country'], /names one twice/],
    ['time with another', ['time:day', 'country'], /cannot be combined/],
    ['an unknown one', ['country', 'planet'], /dimension "planet" is unknown/],
  ])('refuses %s with a 400', async (_n, dimensions, message) => {
    const r = await query({ metrics: ['pageviews'], date_range: '7d', dimensions });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });
});
