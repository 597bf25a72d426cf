/**
 * Custom properties as dimensions (`event:props:<key>`, issue 22) end to end: the batch job's
 * DuckDB views over a temporary lake for the first day (W at its end) and the speed store (Redis)
 * through the consumer's own roll-up, behind the HTTP API. Page views and custom events carry the
 * listed keys `author` and `plan` (and an unlisted one, `secret`), some with an empty value, on both
 * days. Batch only, speed only and across W: breakdowns by each listed key by page views and events
 * equal testing/truth.ts row for row; batch answers visitors, filters with every operator and a
 * property with another dimension exactly; the speed store keeps at most SPEED_MAX_MEMBERS values
 * per key and minute (`(other)` beyond, said in meta and per row); what it cannot answer is a 422
 * saying why; an unlisted key is a 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { contractData } from '../core/views.contract.ts';
import type { AnyDimension, BreakdownQuery, FilterCondition } from '../core/views.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { runCleanups } from '../testing/helpers.ts';
import { truthBreakdown, truthMultiBreakdown, truthTotals } from '../testing/truth.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { acrossWWatermark, expectRows, storesAcrossW, type AnswerRow } from './testing/across-w.fixture.ts';

const H = 3_600_000;
const base = contractData();
const SITE = base.sites[0]!;
const W = acrossWWatermark(base);
const { from, to } = base;
const LISTED = ['author', 'plan'];

const AUTHORS = ['ada', 'grace', 'linus', "o'brien", 'zoë', ''];
const PLANS = ['free', 'pro', 'team'];

/** Page views and custom events with properties, spread over both days and many visitors. */
function propertyEvents(template: TwinlaneEvent): TwinlaneEvent[] {
  const out: TwinlaneEvent[] = [];
  for (let k = 0; k < 72; k++) {
    const t = from + (k % 2) * 86_400_000 + ((k % 23) + 1) * H + (k % 50) * 60_000;
    const visitor = `prop-visitor-${k % 17}`;
    for (const [j, type] of (['pageview', 'custom'] as const).entries()) {
      const properties: Record<string, string> = { secret: `s-${k}` };
      if (k % 5 !== 0) properties.author = AUTHORS[k % AUTHORS.length]!;
      if (type === 'custom' || k % 3 === 0) properties.plan = PLANS[(k + Math.floor(k / 3)) % PLANS.length]!;
      out.push({
        ...template,
        event_id: `00000000-0000-4000-a000-${String(out.length).padStart(12, '0')}`,
        site_id: SITE,
        type,
        name: type === 'custom' ? 'signup' : 'pageview',
        event_time: t + j * 60_000,
        received_time: t + j * 60_000,
        visitor_id: visitor,
        session_id: visitor,
        is_bot: false,
        revenue_micros: null,
        currency: null,
        properties,
      });
    }
  }
  // One minute past W with more `plan` values than the speed store keeps per key and minute.
  for (let v = 0; v < CAP + 4; v++) {
    out.push({ ...template, event_id: `00000000-0000-4000-b000-${String(v).padStart(12, '0')}`, site_id: SITE, type: 'custom', name: 'signup', event_time: W + 5 * H + 30_000, received_time: W + 5 * H + 30_000, visitor_id: `cap-${v}`, session_id: `cap-${v}`, is_bot: false, revenue_micros: null, currency: null, properties: { plan: `tier-${String(v).padStart(2, '0')}` } });
  }
  return out;
}

/** The speed store's cap of values per key and minute in this test (SPEED_MAX_MEMBERS is 1,000 by default). */
const CAP = 1000;

const template = base.events.find((e) => e.site_id === SITE && !e.is_bot && e.type === 'pageview')!;
const data = { ...base, events: [...base.events.map((e) => ({ ...e, properties: {} })), ...propertyEvents(template)] };
const { events } = data;
const NOW = Date.now();

const KEY = 'rk_shop_properties_01';
let s: ServingApp;
const query = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: SITE, ...payload } });
const iso = (t: number) => new Date(t).toISOString();
type Row = AnswerRow;

beforeAll(async () => {
  const ctx = await storesAcrossW('properties-across-w', data, W, (site) => (site === SITE ? LISTED : []));
  // `color` is listed after the events arrived: the speed store holds none of its values.
  const sites = parseSites({ sites: [{ id: SITE, writeKey: 'wk_shop_properties_01', readKey: KEY, properties: [...LISTED, 'color'] }] });
  s = await buildServingApp({ batch: { current: async () => ctx.batch }, speed: ctx.speed, sites, clock: () => NOW });
}, 120_000);

afterAll(async () => {
  await s?.app.close();
  await runCleanups();
});

/** The three ways a range lies against W, and the stores that must answer it (the capped minute lies past W, outside these). */
const SIDES: [string, number, number, string[]][] = [
  ['batch only', from, W, ['batch']],
  ['speed only', W, W + 5 * H, ['speed']],
  ['across W', from + 5 * H + 17 * 60_000, W + 5 * H, ['batch', 'speed']],
];

const prop = (key: string): AnyDimension => `prop:${key}`;

describe('custom properties as dimensions in the real stores, through the API', () => {
  it.each(SIDES)('%s: breaks each listed property down by page views and events like the truth', async (side, a, z, sources) => {
    for (const key of LISTED)
      for (const metric of ['pageviews', 'events'] as BreakdownQuery['metric'][]) {
        const where = `${side} ${key} by ${metric}`;
        const r = await query({ metrics: [metric], date_range: [iso(a), iso(z)], dimensions: [`event:props:${key}`], pagination: { limit: 1000 } });
        expect(r.statusCode, `${where}: ${r.body}`).toBe(200);
        expect(r.json().meta.sources, where).toEqual(sources);
        expect(r.json().query.dimensions, where).toEqual([`event:props:${key}`]);
        const want = truthBreakdown(events, { site: SITE, from: a, to: z, dimension: prop(key), metric });
        expect(want.length, `${where}: the truth has several rows`).toBeGreaterThan(2);
        expect(want.some((w) => w.value === '(none)'), `${where}: events without the key`).toBe(true);
        expectRows(r.json().results, want.map((w) => ({ key: JSON.stringify([w.value]), count: w.count })), where);
      }
  });

  it('batch answers visitors, every filter operator on a property and a property with another dimension exactly', async () => {
    const FILTERS: { api: [string, string, string[]][]; truth: FilterCondition[] }[] = [
      { api: [['is', 'event:props:plan', ['pro', 'team']]], truth: [{ op: 'is', dimension: prop('plan'), values: ['pro', 'team'] }] },
      { api: [['is_not', 'event:props:author', ['ada', '(none)']]], truth: [{ op: 'is_not', dimension: prop('author'), values: ['ada', '(none)'] }] },
      { api: [['contains', 'event:props:author', ["'b", 'ë']]], truth: [{ op: 'contains', dimension: prop('author'), values: ["'b", 'ë'] }] },
      { api: [['contains_not', 'event:props:plan', ['ree']], ['is', 'visit:device', ['desktop', 'mobile']]], truth: [{ op: 'contains_not', dimension: prop('plan'), values: ['ree'] }, { op: 'is', dimension: 'device', values: ['desktop', 'mobile'] }] },
    ];
    const all = truthTotals(events, { site: SITE, from, to: W });
    for (const f of FILTERS) {
      const where = JSON.stringify(f.api);
      const want = truthTotals(events, { site: SITE, from, to: W, conditions: f.truth });
      expect(want.pageviews + want.events, `${where}: selects events`).toBeGreaterThan(0);
      expect(want.pageviews, `${where}: leaves page views out`).toBeLessThan(all.pageviews);
      const t = await query({ metrics: ['pageviews', 'events', 'visitors'], date_range: [iso(from), iso(W)], filters: f.api });
      expect(t.statusCode, `${where}: ${t.body}`).toBe(200);
      expect(t.json().results[0].metrics, where).toEqual([want.pageviews, want.events, want.visitors]);
    }
    const v = await query({ metrics: ['visitors'], date_range: [iso(from), iso(W)], dimensions: ['event:props:author'], pagination: { limit: 1000 } });
    expect(v.statusCode, v.body).toBe(200);
    expectRows(v.json().results, truthBreakdown(events, { site: SITE, from, to: W, dimension: prop('author'), metric: 'visitors' }).map((w) => ({ key: JSON.stringify([w.value]), count: w.count })), 'author by visitors');
    const m = await query({ metrics: ['events'], date_range: [iso(from), iso(W)], dimensions: ['event:props:plan', 'visit:country'], pagination: { limit: 1000 } });
    expect(m.statusCode, m.body).toBe(200);
    const want = truthMultiBreakdown(events, { site: SITE, from, to: W, dimensions: [prop('plan'), 'country'], metric: 'events' });
    expect(want.length).toBeGreaterThan(3);
    expectRows(m.json().results, want.map((w) => ({ key: JSON.stringify(w.values), count: w.count })), 'plan × country');
  });

  it('speed keeps at most its cap of values per key and minute: the rest is one (other) row, said in meta and per row', async () => {
    const minute = W + 5 * H;
    const page = (offset: number) => query({ metrics: ['events'], date_range: [iso(minute), iso(minute + 60_000)], dimensions: ['event:props:plan'], pagination: { limit: 1000, offset } });
    const [r, next] = await Promise.all([page(0), page(1000)]);
    expect(r.statusCode, r.body).toBe(200);
    expect(next.statusCode, next.body).toBe(200);
    const rows = [...(r.json().results as Row[]), ...(next.json().results as Row[])];
    const other = rows.find((x) => x.dimensions[0] === '(other)');
    expect(other, 'an (other) row').toBeDefined();
    expect(other!.exact).toBe(false);
    expect(r.json().meta.other).toMatch(/SPEED_MAX_MEMBERS/);
    // Every event of the minute is counted once: the kept values and (other) add up to the truth's total.
    const truth = truthTotals(events, { site: SITE, from: minute, to: minute + 60_000 });
    expect(rows.reduce((n, x) => n + x.metrics[0]!, 0)).toBe(truth.events);
    expect(rows.length).toBe(CAP + 1);
  });

  it.each([
    ['visitors by a property', { metrics: ['visitors'], dimensions: ['event:props:plan'] }, /page views and custom events per custom property value/],
    ['a property filter', { metrics: ['pageviews'], filters: [['is', 'event:props:plan', ['pro']]] }, /custom properties apart from the dimension tuples/],
    ['a property with another dimension', { metrics: ['events'], dimensions: ['event:props:plan', 'visit:country'] }, /breaks one down alone/],
  ])('past W refuses %s with a 422 saying why; batch answers it', async (_name, over, message) => {
    const past = await query({ date_range: [iso(W), iso(W + 5 * H)], ...over });
    expect(past.statusCode, past.body).toBe(422);
    expect(past.json().error.message).toMatch(message);
    const before = await query({ date_range: [iso(from), iso(W)], ...over });
    expect(before.statusCode, before.body).toBe(200);
  });

  it('answers a key listed after its events arrived from batch, and past W a 422 naming when speed began keeping it (never rows of none)', async () => {
    const before = await query({ metrics: ['events'], date_range: [iso(from), iso(W)], dimensions: ['event:props:color'] });
    expect(before.statusCode, before.body).toBe(200);
    expect(before.json().results).toEqual([{ dimensions: ['(none)'], metrics: [truthTotals(events, { site: SITE, from, to: W }).events] }]);
    const past = await query({ metrics: ['events'], date_range: [iso(W), iso(W + 5 * H)], dimensions: ['event:props:color'] });
    expect(past.statusCode, past.body).toBe(422);
    expect(past.json().error.message).toMatch(/keeps the values of the property "color" only from when the sites file lists it/);
  });

  it.each([
    ['an unlisted property key', { dimensions: ['event:props:secret'] }, /"secret" is not a custom property of this site \(it lists author, plan, color/],
    ['an unlisted property in a filter', { filters: [['is', 'event:props:nope', ['x']]] }, /filter dimension "event:props:nope": "nope" is not a custom property/],
    ['an empty contains on a property', { filters: [['contains', 'event:props:plan', ['']]] }, /contains "": an empty value would match everything/],
    ['a control character in a property value', { filters: [['is', 'event:props:plan', ['a\u0001b']]] }, /is not valid: expected a property value/],
    ['a lone surrogate in a property value', { filters: [['contains', 'event:props:plan', ['x\ud800']]] }, /event:props:plan: .* holds a lone surrogate/],
  ])('refuses %s with a 400 naming it', async (_name, over, message) => {
    const r = await query({ metrics: ['pageviews'], date_range: [iso(from), iso(W)], ...over });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });
});

