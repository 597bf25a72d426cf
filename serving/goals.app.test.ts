/**
 * Goals through the HTTP API with in-memory stores on either side of W: conversions, converting
 * visitors, conversion rates and purchase revenue of page goals (exact and wildcard) and event
 * goals, as totals, series, breakdowns and a breakdown by goal, each against testing/truth.ts; and
 * the goal mistakes a client or a sites file can make, each refused naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import type { FilterCondition } from '../core/views.ts';
import { truthBreakdown, truthMultiBreakdown, truthTotals } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const H = 3_600_000;
const D = 86_400_000;
const DAY0 = Date.UTC(2026, 2, 1);
const W = DAY0 + 2 * D;
const NOW = W + 9 * H;
const events = [...generateTraffic({ seed: 31, sites: ['shop'], from: DAY0, to: NOW, events: 6_000, visitorsPerSite: 400 })];
const KEY = 'rk_shop_0123456789';
const GOALS = [
  { name: 'Docs', page: '/docs/*' },
  { name: 'Home', page: '/' },
  { name: 'Signup', event: 'signup' },
  { name: 'Purchase', event: 'purchase' },
];
const sites = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: KEY, currency: 'EUR', goals: GOALS, segments: [{ name: 'Signed up on mobile', filters: [['is', 'event:goal', ['Signup']], ['is', 'device', ['mobile']]] }] }] });
const batch = new MemoryViewReader({ source: 'batch', events, coverage: { shop: { from: DAY0, to: W } }, version: 'v1' });
const speed = new MemoryViewReader({ source: 'speed', events, coverage: { shop: { from: W - 2 * H, to: NOW } } });
const iso = (t: number) => new Date(t).toISOString();
let s: ServingApp;
const query = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: 'shop', ...payload } });

/** A goal's events, spelled out for the truth: page views of a matching path, or custom events and purchases of the name. */
function truthGoal(name: string, from: number, to: number, extra: FilterCondition[] = []) {
  const g = GOALS.find((x) => x.name === name)!;
  const all = truthTotals(events, { site: 'shop', from, to, conditions: extra, currency: 'EUR' });
  if (g.page !== undefined) {
    const cond: FilterCondition = { op: g.page.endsWith('*') ? 'contains' : 'is', dimension: 'page', values: [g.page.replace('*', '')] };
    // '/docs/*' is every path starting with /docs/ in this traffic (pagePath: /<section>/<rank>).
    const t = truthTotals(events, { site: 'shop', from, to, conditions: [...extra, cond], currency: 'EUR' });
    return { conversions: t.pageviews, visitors: t.visitors, rate: t.visitors / all.visitors, revenue: t.revenue };
  }
  const t = truthTotals(events, { site: 'shop', from, to, conditions: [...extra, { op: 'is', dimension: 'event_name', values: [g.event!] }], currency: 'EUR' });
  return { conversions: t.events + t.purchases, visitors: t.visitors, rate: t.visitors / all.visitors, revenue: t.revenue };
}

beforeAll(async () => {
  s = await buildServingApp({ batch: { current: async () => batch }, speed, sites, clock: () => NOW });
});
afterAll(async () => s.app.close());

describe('goals across W', () => {
  const from = DAY0 + 5 * H;
  it.each(GOALS.map((g) => g.name))('%s: conversions, converting visitors, conversion rate and revenue equal the truth', async (name) => {
    const r = await query({ metrics: ['conversions', 'visitors', 'conversion_rate', 'revenue'], date_range: [iso(from), iso(NOW)], filters: [['is', 'event:goal', [name]]] });
    expect(r.statusCode, r.body).toBe(200);
    const want = truthGoal(name, from, NOW);
    expect(want.conversions).toBeGreaterThan(0);
    expect(r.json().results[0].metrics).toEqual([want.conversions, want.visitors, want.rate, want.revenue / 1_000_000]);
    expect(r.json().query.goal).toBe(name);
  });

  it('answers a series of a wildcard goal bucket by bucket, each from its side of W', async () => {
    const r = (await query({ metrics: ['conversions', 'conversion_rate'], date_range: [iso(W - 3 * H), iso(W + 3 * H)], dimensions: ['time:hour'], filters: [['is', 'event:goal', ['Docs']]] })).json();
    expect(r.results).toHaveLength(6);
    for (const row of r.results) {
      const start = Date.parse(row.dimensions[0]);
      const want = truthGoal('Docs', start, start + H);
      expect(row.source).toBe(start < W ? 'batch' : 'speed');
      expect(row.metrics).toEqual([want.conversions, want.rate]);
    }
  });

  it('breaks down by goal, ranked, and a goal by country', async () => {
    const r = (await query({ metrics: ['conversions', 'conversion_rate'], date_range: [iso(from), iso(NOW)], dimensions: ['event:goal'] })).json();
    const want = GOALS.map((g) => ({ name: g.name, ...truthGoal(g.name, from, NOW) })).sort((a, b) => b.conversions - a.conversions);
    expect(r.results.map((x: { dimensions: string[]; metrics: number[] }) => [x.dimensions[0], ...x.metrics])).toEqual(want.map((w) => [w.name, w.conversions, w.rate]));
    const c = (await query({ metrics: ['conversions'], date_range: [iso(from), iso(NOW)], dimensions: ['visit:country'], filters: [['is', 'event:goal', ['Signup']]], pagination: { limit: 100 } })).json();
    const signup = truthBreakdown(events, { site: 'shop', from, to: NOW, dimension: 'country', metric: 'events', conditions: [{ op: 'is', dimension: 'event_name', values: ['signup'] }] });
    expect(signup.length).toBeGreaterThan(0);
    expect(c.results.map((x: { dimensions: string[]; metrics: number[] }) => [x.dimensions[0], x.metrics[0]])).toEqual(signup.map((x) => [x.value, x.count]));
  });

  it('breaks a goal down by two dimensions', async () => {
    const r = (await query({ metrics: ['conversions'], date_range: [iso(from), iso(NOW)], dimensions: ['country', 'device'], filters: [['is', 'event:goal', ['Home']]], pagination: { limit: 1000 } })).json();
    const want = truthMultiBreakdown(events, { site: 'shop', from, to: NOW, dimensions: ['country', 'device'], metric: 'pageviews', conditions: [{ op: 'is', dimension: 'page', values: ['/'] }] });
    expect(want.length).toBeGreaterThan(5);
    expect(new Map(r.results.map((x: { dimensions: string[]; metrics: number[] }) => [JSON.stringify(x.dimensions), x.metrics[0]]))).toEqual(new Map(want.map((w) => [JSON.stringify(w.values), w.count])));
  });

  it('takes a goal from a saved segment, with its other filters', async () => {
    const r = (await query({ metrics: ['conversions', 'conversion_rate'], date_range: [iso(from), iso(NOW)], segment: 'Signed up on mobile' })).json();
    const want = truthGoal('Signup', from, NOW, [{ op: 'is', dimension: 'device', values: ['mobile'] }]);
    expect(r.results[0].metrics).toEqual([want.conversions, want.rate]);
  });
});

describe('goal mistakes are refused naming them', () => {
  it.each([
    ['an unknown goal', { metrics: ['conversions'], date_range: '7d', filters: [['is', 'event:goal', ['Nope']]] }, /goal "Nope" is unknown/],
    ['two goals in one filter', { metrics: ['conversions'], date_range: '7d', filters: [['is', 'event:goal', ['Docs', 'Home']]] }, /one goal name/],
    ['a goal operator other than is', { metrics: ['conversions'], date_range: '7d', filters: [['contains', 'event:goal', ['Do']]] }, /event:goal/],
    ['conversions without a goal', { metrics: ['conversions'], date_range: '7d' }, /need a goal/],
    ['a goal breakdown by pageviews', { metrics: ['pageviews'], date_range: '7d', dimensions: ['event:goal'] }, /event:goal answers/],
  ])('%s', async (_n, payload, message) => {
    const r = await query(payload);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });

  it.each([
    ['a wildcard matching every page', { name: 'All', page: '/*' }, /matches every page/],
    ['a wildcard alone', { name: 'All', page: '*' }, /URL path/],
    ['both page and event', { name: 'X', page: '/a', event: 'b' }, /exactly one of page and event/],
    ['neither', { name: 'X' }, /exactly one of page and event/],
  ])('a sites file with %s', (_n, goal, message) => {
    expect(() => parseSites({ sites: [{ id: 'a', writeKey: 'wk_a_0123456789', readKey: 'rk_a_0123456789', goals: [goal] }] })).toThrow(message);
  });
});
