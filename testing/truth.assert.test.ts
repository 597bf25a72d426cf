/**
 * Regression: the end-to-end truth assertion once looped over the rows the server returned and
 * read null as 0, so an empty or partial answer passed. Reproduced by calling it with [] — it did
 * not throw. It must walk the truth's buckets and fail on anything missing.
 */
import { describe, expect, it } from 'vitest';
import type { Metric } from '../core/views.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { expectBucketsEqualTruth, withinSketchBound, type SeriesRow } from './truth.assert.ts';
import { truthSeries } from './truth.ts';

const HOUR = 3_600_000;
const FROM = Date.UTC(2026, 4, 1);
const TO = FROM + 6 * HOUR;
const METRICS: Metric[] = ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue'];
const events: TwinlaneEvent[] = [...generateTraffic({ seed: 5, sites: ['shop'], from: FROM, to: TO, events: 1_500, visitorsPerSite: 200 })];
const truth = truthSeries(events, { site: 'shop', grain: 'hour', from: FROM, to: TO });

/** What a correct server answers: every bucket, revenue in currency units. */
function served(): SeriesRow[] {
  return [...truth].map(([start, v]) => ({ start, source: 'batch', values: { ...v, revenue: v.revenue / 1_000_000 } }));
}

describe('expectBucketsEqualTruth', () => {
  it('passes on the correct answer, which holds purchases', () => {
    expect(truth.size).toBe(6);
    expect([...truth.values()].some((v) => v.revenue > 0)).toBe(true);
    expect(() => expectBucketsEqualTruth(served(), truth, 'shop', METRICS)).not.toThrow();
  });

  it('fails on an empty answer', () => {
    expect(() => expectBucketsEqualTruth([], truth, 'shop', METRICS)).toThrow(/no bucket served/);
  });

  it('fails on a partial answer: a bucket left out', () => {
    expect(() => expectBucketsEqualTruth(served().slice(0, -1), truth, 'shop', METRICS)).toThrow(/no bucket served/);
  });

  it('fails on a partial answer: a null metric (a missing bucket), even where the truth is 0', () => {
    const rows = served();
    rows[2]!.values.pageviews = null;
    expect(() => expectBucketsEqualTruth(rows, truth, 'shop', METRICS)).toThrow(/pageviews: served null/);
    const quiet = truthSeries([], { site: 'shop', grain: 'hour', from: FROM, to: FROM + HOUR });
    expect(() => expectBucketsEqualTruth([{ start: FROM, source: 'speed', values: { pageviews: null } }], quiet, 'shop', ['pageviews'])).toThrow(/served null/);
  });

  it('fails on a wrong number, and on uniques beyond the sketch bound', () => {
    const rows = served();
    rows[1]!.values.revenue = rows[1]!.values.revenue! + 0.01;
    expect(() => expectBucketsEqualTruth(rows, truth, 'shop', METRICS)).toThrow();
    const off = served();
    off[0]!.values.visitors = off[0]!.values.visitors! + 1;
    expect(() => expectBucketsEqualTruth(off, truth, 'shop', ['visitors'], ['visitors'])).not.toThrow();
    off[0]!.values.visitors = off[0]!.values.visitors! * 2;
    expect(() => expectBucketsEqualTruth(off, truth, 'shop', ['visitors'], ['visitors'])).toThrow();
  });

  it('bounds uniques by 3 visitors on small counts and 2.5% on large ones', () => {
    expect(withinSketchBound(55, 58)).toBe(true); // two register collisions, seen on a real hour
    expect(withinSketchBound(54, 58)).toBe(false);
    expect(withinSketchBound(1_025, 1_000)).toBe(true);
    expect(withinSketchBound(1_026, 1_000)).toBe(false);
  });

  it('fails on a truth without buckets (a range that matched nothing proves nothing)', () => {
    expect(() => expectBucketsEqualTruth(served(), new Map(), 'shop', METRICS)).toThrow();
  });
});
