/**
 * A site in America/New_York through the HTTP API (issue 14: site time zones): local dates in
 * ranges, local day, week and month buckets named by their local time and offset, W at the site's
 * last local midnight within batch's UTC days, a date the clocks skip refused, comparisons by local
 * buckets. The stores are the in-memory readers; the truth cuts buckets with Intl alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { generateTraffic } from '../traffic/index.ts';
import { truthBucketStarts, truthSeries } from '../testing/truth.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const H = 3_600_000;
const D = 86_400_000;
const ZONE = 'America/New_York';
/** Batch holds the UTC days up to 2026-03-09 (New York moved its clocks on 2026-03-08). */
const W_UTC = Date.UTC(2026, 2, 9);
const NOW = W_UTC + 15 * H;
const FROM = Date.UTC(2026, 1, 20);
const events = [...generateTraffic({ seed: 14, sites: ['ny'], from: FROM, to: NOW, events: 6_000, visitorsPerSite: 300 })];
const KEY = 'rk_ny_0123456789';
const sites = parseSites({ sites: [{ id: 'ny', writeKey: 'wk_ny_0123456789', readKey: KEY, timezone: ZONE }] });
const batch = new MemoryViewReader({ source: 'batch', events, coverage: { ny: { from: FROM, to: W_UTC } }, version: 'v1' });
const speed = new MemoryViewReader({ source: 'speed', events, coverage: { ny: { from: W_UTC - 2 * D, to: NOW } } });
let s: ServingApp;

const get = (url: string) => s.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${KEY}` } });
/** New York's last midnight at or before W_UTC, by Intl (truthBucketStarts), not by the code under test. */
const W_SITE = truthBucketStarts(W_UTC, W_UTC + 1, 'day', ZONE)[0]!;

beforeAll(async () => {
  s = await buildServingApp({ batch: { current: async () => batch }, speed, sites, clock: () => NOW });
});
afterAll(async () => s.app.close());

describe('a site in America/New_York', () => {
  it("states W at the site's last local midnight within batch's days", async () => {
    expect(new Date(W_SITE).toISOString()).toBe('2026-03-08T05:00:00.000Z');
    const r = await get('/v1/sites/ny/coverage');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ watermark: '2026-03-08T05:00:00.000Z', timezone: ZONE });
  });

  it('answers local days from local dates, the DST day with 23 hours, each bucket from its side of W like the truth', async () => {
    const r = await get('/v1/sites/ny/series?metrics=pageviews,visitors,sessions&grain=day&from=2026-03-06&to=2026-03-09');
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body.query.timezone).toBe(ZONE);
    expect(body.query.date_range).toEqual(['2026-03-06T00:00:00-05:00', '2026-03-10T00:00:00-04:00']);
    expect(body.meta.watermark).toBe(new Date(W_SITE).toISOString());
    const from = Date.parse('2026-03-06T05:00:00Z');
    const to = Date.parse('2026-03-10T04:00:00Z');
    const truth = truthSeries(events, { site: 'ny', grain: 'day', from, to, zone: ZONE });
    expect(body.results.map((row: { dimensions: string[] }) => row.dimensions[0])).toEqual(['2026-03-06T00:00:00-05:00', '2026-03-07T00:00:00-05:00', '2026-03-08T00:00:00-05:00', '2026-03-09T00:00:00-04:00']);
    const starts = [...truth.keys()];
    expect(starts[3]! - starts[2]!).toBe(23 * H);
    body.results.forEach((row: { dimensions: string[]; metrics: number[]; source: string }, i: number) => {
      const start = starts[i]!;
      expect(Date.parse(row.dimensions[0]!)).toBe(start);
      expect(row.source, row.dimensions[0]).toBe(start < W_SITE ? 'batch' : 'speed');
      const t = truth.get(start)!;
      expect(row.metrics, row.dimensions[0]).toEqual([t.pageviews, t.visitors, t.sessions]);
    });
  });

  it('cuts hours of the DST day: 23 of them, the 02:00 hour skipped', async () => {
    const r = await get('/v1/sites/ny/series?metrics=pageviews&grain=hour&from=2026-03-08&to=2026-03-08&source=speed');
    expect(r.statusCode, r.body).toBe(200);
    const labels = r.json().results.map((row: { dimensions: string[] }) => row.dimensions[0]);
    expect(labels).toHaveLength(23);
    expect(labels.slice(1, 3)).toEqual(['2026-03-08T01:00:00-05:00', '2026-03-08T03:00:00-04:00']);
  });

  it('cuts ISO weeks from Monday and months from the 1st, local', async () => {
    const w = (await get('/v1/sites/ny/series?metrics=pageviews&grain=week&from=2026-03-02&to=2026-03-15')).json();
    expect(w.results.map((row: { dimensions: string[] }) => row.dimensions[0])).toEqual(['2026-03-02T00:00:00-05:00', '2026-03-09T00:00:00-04:00']);
    const truth = truthSeries(events, { site: 'ny', grain: 'week', from: Date.parse('2026-03-02T05:00:00Z'), to: Date.parse('2026-03-16T04:00:00Z'), zone: ZONE });
    expect(w.results.map((row: { metrics: number[] }) => row.metrics[0])).toEqual([...truth.values()].map((t) => t.pageviews));
    const m = (await get('/v1/sites/ny/series?metrics=pageviews&grain=month&from=2026-02-01&to=2026-03-09')).json();
    expect(m.results.map((row: { dimensions: string[] }) => row.dimensions[0])).toEqual(['2026-02-01T00:00:00-05:00', '2026-03-01T00:00:00-05:00']);
  });

  it('starts today and 7d at local midnights', async () => {
    const today = (await get('/v1/sites/ny/totals?metrics=pageviews&period=today')).json();
    expect(today.query.date_range[0]).toBe('2026-03-09T00:00:00-04:00');
    const week = (await get('/v1/sites/ny/totals?metrics=pageviews&period=7d')).json();
    expect(week.query.date_range[0]).toBe('2026-03-03T00:00:00-05:00');
  });

  it('compares local days with the local days before them', async () => {
    const r = (await get('/v1/sites/ny/series?metrics=pageviews&grain=day&from=2026-03-07&to=2026-03-08&compare=previous_period')).json();
    expect(r.comparison.date_range).toEqual(['2026-03-05T00:00:00-05:00', '2026-03-07T00:00:00-05:00']);
    expect(r.comparison.results.map((row: { dimensions: string[] }) => row.dimensions[0])).toEqual(['2026-03-05T00:00:00-05:00', '2026-03-06T00:00:00-05:00']);
  });

  it('refuses a local time the clocks skip, and an hour past 23, with a 400 naming it', async () => {
    const skipped = await get('/v1/sites/ny/series?metrics=pageviews&grain=hour&from=2026-03-08T02:30&to=2026-03-08T05:00');
    expect(skipped.statusCode).toBe(400);
    expect(skipped.json().error.message).toMatch(/from="2026-03-08T02:30": 2026-03-08T02:30 does not exist in America\/New_York/);
    const bad = await get('/v1/sites/ny/series?metrics=pageviews&grain=hour&from=2026-03-08T24:30&to=2026-03-08T05:00');
    expect(bad.statusCode).toBe(400);
  });
});
