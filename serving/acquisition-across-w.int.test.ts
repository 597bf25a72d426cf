/**
 * UTM dimensions and channels end to end (issue 22): the real stores — the batch job's DuckDB views
 * over a temporary lake for the first day (W at its end), the speed store (Redis) through the
 * consumer's own roll-up for every event — behind the HTTP API. The events are the contract suite's
 * traffic plus links of every kind (paid social, display, affiliates, a cross-network campaign, a
 * webmail, a shop, internal navigation, mixed-case tags, a term with spaces and accents) on both
 * days. Batch only, speed only and across W, every breakdown by utm_medium, utm_campaign,
 * utm_term, utm_content and channel, totals, series and breakdowns under filters with each
 * operator on them, equal testing/truth.ts: each truth row must be in the answer with its count,
 * and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { contractData } from '../core/views.contract.ts';
import type { BreakdownQuery, Dimension, FilterCondition } from '../core/views.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { runCleanups } from '../testing/helpers.ts';
import { truthBreakdown, truthChannel, truthMultiBreakdown, truthSeries, truthTotals } from '../testing/truth.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { acrossWWatermark, expectRows, storesAcrossW, type AnswerRow } from './testing/across-w.fixture.ts';

const H = 3_600_000;
const base = contractData();
const SITE = base.sites[0]!;
const W = acrossWWatermark(base);
const { from, to } = base;

/** Links of every kind, as a landing page view, a custom event and a purchase each, several times on both days. */
const LINKS: Partial<TwinlaneEvent>[] = [
  { referrer_host: 'm.facebook.com', utm_source: 'fb', utm_medium: 'paid_social', utm_campaign: 'Spring Sale', utm_content: 'carousel 1' },
  { utm_source: 'adnet', utm_medium: 'banner', utm_campaign: 'retarget-q2', utm_content: '300x250' },
  { utm_source: 'partner', utm_medium: 'affiliate', utm_campaign: 'Q2 Cross-Network' },
  { utm_source: 'partner', utm_medium: 'affiliate', utm_content: 'sidebar' },
  { referrer_host: 'www.youtube.com', utm_source: 'youtube', utm_medium: 'cpv', utm_term: 'how to track' },
  { utm_source: 'Bing', utm_medium: 'CPC', utm_campaign: 'brand', utm_term: 'web analytics' },
  { utm_source: 'podcast', utm_term: 'ünïcode tërm' },
  { referrer_host: 'mail.google.com' },
  { referrer_host: 'www.amazon.de' },
  { referrer_host: `www.${SITE}.example` },
];

function linkEvents(template: TwinlaneEvent): TwinlaneEvent[] {
  const out: TwinlaneEvent[] = [];
  const none = { referrer_host: null, utm_source: null, utm_medium: null, utm_campaign: null, utm_term: null, utm_content: null };
  for (const [i, link] of LINKS.entries())
    for (let k = 0; k < 6; k++) {
      // Three per day, at hours spread over it, each visitor's events a minute apart.
      const t = from + (k % 2) * 86_400_000 + (((2 + i * 2 + k) % 22) + 1) * H + 7 * 60_000;
      const visitor = `link-${i}-${k}`;
      for (const [j, type] of (['pageview', 'custom', 'purchase'] as const).entries()) {
        if (type === 'purchase' && k % 3 !== 0) continue;
        out.push({
          ...template,
          ...none,
          ...link,
          event_id: `00000000-0000-4000-9000-${String(out.length).padStart(12, '0')}`,
          site_id: SITE,
          type,
          name: type === 'custom' ? 'signup' : type,
          event_time: t + j * 60_000,
          received_time: t + j * 60_000,
          visitor_id: visitor,
          session_id: visitor,
          hostname: `${SITE}.example`,
          is_bot: false,
          revenue_micros: type === 'purchase' ? (i + 1) * 1_000_000 : null,
          currency: type === 'purchase' ? 'USD' : null,
        });
      }
    }
  return out;
}

const template = base.events.find((e) => e.site_id === SITE && !e.is_bot && e.type === 'pageview')!;
const data = { ...base, events: [...base.events, ...linkEvents(template)] };
const { events } = data;
const NOW = Date.now();

const KEY = 'rk_shop_acquisition_01';
let s: ServingApp;
const query = (payload: Record<string, unknown>) => s.app.inject({ method: 'POST', url: '/api/v2/query', headers: { authorization: `Bearer ${KEY}` }, payload: { site_id: SITE, ...payload } });
const iso = (t: number) => new Date(t).toISOString();
type Row = AnswerRow;

beforeAll(async () => {
  const ctx = await storesAcrossW('acquisition-across-w', data);
  const sites = parseSites({ sites: [{ id: SITE, writeKey: 'wk_shop_acquisition_01', readKey: KEY }] });
  s = await buildServingApp({ batch: { current: async () => ctx.batch }, speed: ctx.speed, sites, clock: () => NOW });
}, 120_000);

afterAll(async () => {
  await s?.app.close();
  await runCleanups();
});

const NEW_DIMENSIONS: Dimension[] = ['utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'channel'];

/** The three ways a range lies against W, and the stores that must answer it. */
const SIDES: [string, number, number, string[]][] = [
  ['batch only', from, W, ['batch']],
  ['speed only', W, to, ['speed']],
  ['across W', from + 5 * H + 17 * 60_000, to - 3 * H, ['batch', 'speed']],
];

describe('UTM dimensions and channels in the real stores, through the API', () => {
  it('the data holds every kind of link on both sides of W', () => {
    const channels = (a: number, z: number) => new Set(events.filter((e) => e.site_id === SITE && e.event_time >= a && e.event_time < z).map(truthChannel));
    for (const [a, z] of [[from, W], [W, to]] as const)
      for (const c of ['Direct', 'Organic Search', 'Organic Social', 'Referral', 'Email', 'Paid Search', 'Paid Social', 'Display', 'Cross-network', 'Affiliates', 'Paid Video', 'Organic Shopping', 'Unassigned']) expect(channels(a, z), `${c} in [${iso(a)}, ${iso(z)})`).toContain(c);
  });

  it.each(SIDES)('%s: breaks every new dimension down by page views, events and revenue like the truth', async (_side, a, z, sources) => {
    for (const dimension of NEW_DIMENSIONS)
      for (const metric of ['pageviews', 'events', 'revenue'] as BreakdownQuery['metric'][]) {
        const where = `${_side} ${dimension} by ${metric}`;
        const r = await query({ metrics: [metric], date_range: [iso(a), iso(z)], dimensions: [`visit:${dimension}`], pagination: { limit: 1000 } });
        expect(r.statusCode, `${where}: ${r.body}`).toBe(200);
        expect(r.json().meta.sources, where).toEqual(sources);
        const want = truthBreakdown(events, { site: SITE, from: a, to: z, dimension, metric });
        expect(want.length, `${where}: the truth has several rows`).toBeGreaterThan(2);
        // Revenue in currency units at the edge; the truth counts micros.
        const rows = (r.json().results as Row[]).map((x) => ({ ...x, metrics: x.metrics.map((v) => (metric === 'revenue' && v !== null ? Math.round(v * 1_000_000) : v)) }));
        expectRows(rows, want.map((w) => ({ key: JSON.stringify([w.value]), count: w.count })), where);
      }
  });

  /** Clauses of the API and the same conditions spelled out for the truth (channel names as the table writes them). */
  const FILTERS: { api: [string, string, string[]][]; truth: FilterCondition[] }[] = [
    { api: [['is', 'visit:utm_medium', ['cpc', 'email', 'paid_social']]], truth: [{ op: 'is', dimension: 'utm_medium', values: ['cpc', 'email', 'paid_social'] }] },
    { api: [['is_not', 'visit:channel', ['Direct', 'organic search']]], truth: [{ op: 'is_not', dimension: 'channel', values: ['Direct', 'Organic Search'] }] },
    {
      api: [['contains', 'visit:utm_term', ['analytics', 'track']], ['is_not', 'visit:device', ['tablet']]],
      truth: [{ op: 'contains', dimension: 'utm_term', values: ['analytics', 'track'] }, { op: 'is_not', dimension: 'device', values: ['tablet'] }],
    },
    {
      api: [['contains_not', 'visit:utm_campaign', ['brand', 'none']], ['contains', 'visit:channel', ['Paid', 'Email']]],
      truth: [{ op: 'contains_not', dimension: 'utm_campaign', values: ['brand', 'none'] }, { op: 'contains', dimension: 'channel', values: ['Paid', 'Email'] }],
    },
    { api: [['is', 'visit:utm_content', ['(none)']], ['is', 'visit:channel', ['Paid Search']]], truth: [{ op: 'is', dimension: 'utm_content', values: ['(none)'] }, { op: 'is', dimension: 'channel', values: ['Paid Search'] }] },
  ];

  it.each(SIDES)('%s: totals and a channel breakdown under filters with every operator on them equal the truth', async (_side, a, z, sources) => {
    const all = truthTotals(events, { site: SITE, from: a, to: z });
    for (const f of FILTERS) {
      const where = `${_side} ${JSON.stringify(f.api)}`;
      const want = truthTotals(events, { site: SITE, from: a, to: z, conditions: f.truth });
      // The filter selects some page views and leaves some out, or it proves nothing.
      expect(want.pageviews, `${where}: selects page views`).toBeGreaterThan(0);
      expect(want.pageviews, `${where}: leaves page views out`).toBeLessThan(all.pageviews);
      const metrics = ['pageviews', 'events', 'purchases', 'revenue'] as const;
      const t = await query({ metrics, date_range: [iso(a), iso(z)], filters: f.api });
      expect(t.statusCode, `${where}: ${t.body}`).toBe(200);
      expect(t.json().meta.sources, where).toEqual(sources);
      expect(t.json().results[0].metrics, where).toEqual(metrics.map((m) => (m === 'revenue' ? want.revenue / 1_000_000 : want[m])));
      const b = await query({ metrics: ['pageviews'], date_range: [iso(a), iso(z)], dimensions: ['visit:channel'], filters: f.api, pagination: { limit: 1000 } });
      expect(b.statusCode, `${where}: ${b.body}`).toBe(200);
      expectRows(b.json().results, truthBreakdown(events, { site: SITE, from: a, to: z, dimension: 'channel', metric: 'pageviews', conditions: f.truth }).map((w) => ({ key: JSON.stringify([w.value]), count: w.count })), `${where} by channel`);
    }
  });

  it('answers visitors under a UTM filter exactly before W, and refuses it past W with a 422 saying why', async () => {
    const filters = [['is', 'visit:channel', ['Email']]];
    const before = await query({ metrics: ['visitors'], date_range: [iso(from), iso(W)], filters });
    expect(before.statusCode, before.body).toBe(200);
    expect(before.json().results[0].metrics[0]).toBe(truthTotals(events, { site: SITE, from, to: W, filters: { channel: 'Email' } }).visitors);
    const past = await query({ metrics: ['visitors'], date_range: [iso(W), iso(to)], filters });
    expect(past.statusCode, past.body).toBe(422);
    expect(past.json().error.message).toMatch(/visitor sketches/);
  });

  it('series by hour under a channel filter: batch buckets before W, speed buckets after, each equal to the truth', async () => {
    const r = await query({ metrics: ['pageviews', 'events'], date_range: [iso(from), iso(to)], dimensions: ['time:hour'], filters: [['is', 'visit:channel', ['Paid Social', 'Organic Social']]] });
    expect(r.statusCode, r.body).toBe(200);
    const truth = truthSeries(events, { site: SITE, grain: 'hour', from, to, conditions: [{ op: 'is', dimension: 'channel', values: ['Paid Social', 'Organic Social'] }] });
    const points = r.json().results as (Row & { source: string })[];
    expect(points.map((p) => Date.parse(p.dimensions[0]!))).toEqual([...truth.keys()]);
    for (const p of points) {
      const start = Date.parse(p.dimensions[0]!);
      expect(p.source, p.dimensions[0]).toBe(start < W ? 'batch' : 'speed');
      expect(p.metrics, p.dimensions[0]).toEqual([truth.get(start)!.pageviews, truth.get(start)!.events]);
    }
  });

  it('breaks down by channel × UTM source × device across W, one row per combination of the truth', async () => {
    const r = await query({ metrics: ['pageviews'], date_range: [iso(from), iso(to)], dimensions: ['visit:channel', 'visit:utm_source', 'visit:device'], pagination: { limit: 1000 } });
    expect(r.statusCode, r.body).toBe(200);
    const want = truthMultiBreakdown(events, { site: SITE, from, to, dimensions: ['channel', 'utm_source', 'device'], metric: 'pageviews' });
    expect(want.length).toBeGreaterThan(10);
    expectRows(r.json().results, want.map((w) => ({ key: JSON.stringify(w.values), count: w.count })), 'channel × utm_source × device');
  });

  it('takes the new dimensions as GET alias filters and breakdown paths', async () => {
    const r = await s.app.inject({ method: 'GET', url: `/v1/sites/${SITE}/breakdown/utm_content?metric=pageviews&limit=1000&from=${iso(from)}&to=${iso(to)}&channel=Paid%20Search`, headers: { authorization: `Bearer ${KEY}` } });
    expect(r.statusCode, r.body).toBe(200);
    const want = truthBreakdown(events, { site: SITE, from, to, dimension: 'utm_content', metric: 'pageviews', filters: { channel: 'Paid Search' } });
    expect(want.length).toBeGreaterThan(1);
    expectRows(r.json().results, want.map((w) => ({ key: JSON.stringify([w.value]), count: w.count })), 'GET utm_content under channel=Paid Search');
  });

  it.each([
    ['an unknown dimension', { dimensions: ['visit:utm_foo'] }, /dimension "visit:utm_foo" is unknown; expected one of .*utm_medium.*channel/],
    ['an unknown filter dimension', { filters: [['is', 'visit:chanel', ['Email']]] }, /filter dimension "visit:chanel" is unknown/],
    ['a channel the table does not have', { filters: [['is', 'visit:channel', ['Organic']]] }, /filter channel="Organic" is not valid: expected a channel: one of Direct, .*Referral/],
    ['an empty contains', { filters: [['contains', 'visit:utm_term', ['']]] }, /utm_term contains "": an empty value would match everything/],
    ['a quote in a UTM value', { filters: [['is', 'visit:utm_campaign', ["x' OR 1=1"]]] }, /filter utm_campaign=.* is not valid: expected UTM text/],
  ])('refuses %s with a 400 naming it', async (_name, over, message) => {
    const r = await query({ metrics: ['pageviews'], date_range: '7d', ...over });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().error.message).toMatch(message);
  });
});
