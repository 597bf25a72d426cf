/**
 * Regression: a breakdown across W showed one missing value as two rows. Reproduced with events
 * without a country on both sides of W: batch answered `(unknown)`, speed `(none)`, and the merge
 * (which adds rows by value) listed both; a direct visit was `(direct)` in batch and absent in
 * speed; the parser's `unknown` device was `unknown` in batch. Here the real stores hold the same
 * events — the batch views one day (W at its end), the speed store (Redis) both — and each
 * breakdown merged across W has one row per value, equal to the truth over the whole range.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractData } from '../core/views.contract.ts';
import type { BreakdownQuery, Dimension } from '../core/views.ts';
import { runCleanups } from '../testing/helpers.ts';
import { truthBreakdown } from '../testing/truth.ts';
import { acrossWWatermark, storesAcrossW } from './testing/across-w.fixture.ts';
import { mergeBreakdown, type MergeContext } from './view.merger.ts';

const data = contractData();
const { events, from, to } = data;
const W = acrossWWatermark(data);
const site = data.sites[0]!;

let ctx: MergeContext;

beforeAll(async () => {
  ctx = await storesAcrossW('missing-across-w', data);
}, 120_000);

afterAll(runCleanups);

describe('a breakdown across W with missing values on both sides', () => {
  const cases: [Dimension, string, BreakdownQuery['metric'][]][] = [
    ['country', '(unknown)', ['pageviews', 'events', 'revenue']],
    ['device', '(unknown)', ['pageviews', 'events', 'revenue']],
    ['browser', '(unknown)', ['pageviews', 'events', 'revenue']],
    ['os', '(unknown)', ['pageviews', 'events', 'revenue']],
    ['utm_source', '(none)', ['pageviews', 'events', 'revenue']],
    ['utm_medium', '(none)', ['pageviews', 'events', 'revenue']],
    ['utm_campaign', '(none)', ['pageviews', 'events', 'revenue']],
    ['utm_term', '(none)', ['pageviews', 'events', 'revenue']],
    ['utm_content', '(none)', ['pageviews', 'events', 'revenue']],
    ['referrer', '(direct)', ['pageviews']],
  ];

  it.each(cases)('%s shows %s as one row, the sum of both sides', async (dimension, label, metrics) => {
    for (const metric of metrics) {
      const where = `${dimension} by ${metric}`;
      const missing = (t0: number, t1: number, currency?: string) =>
        truthBreakdown(events, { site, from: t0, to: t1, dimension, metric, ...(currency ? { currency } : {}) }).find((r) => r.value === label)?.count ?? 0;
      // Revenue sums one currency: ask in a currency whose purchases hold the missing value on both sides.
      const currency = metric === 'revenue' ? ['USD', 'EUR'].find((c) => missing(from, W, c) > 0 && missing(W, to, c) > 0) : undefined;
      if (metric === 'revenue') expect(currency, `${where}: a currency with the missing value on both sides`).toBeDefined();
      const q = { site, from, to, dimension, metric, ...(currency ? { currency } : {}) };
      const merged = await mergeBreakdown({ ...q, limit: 1_000 }, ctx);
      expect(merged.sources).toEqual(['batch', 'speed']);
      const values = merged.rows.map((r) => r.value);
      expect(new Set(values).size, `${where}: one row per value`).toBe(values.length);
      const truth = truthBreakdown(events, q);
      // The missing value really occurs on both sides of W, so two spellings would show as two rows.
      expect(missing(from, W, currency), `${where}: before W`).toBeGreaterThan(0);
      expect(missing(W, to, currency), `${where}: after W`).toBeGreaterThan(0);
      expect(merged.rows.filter((r) => r.value === label), where).toEqual(truth.filter((r) => r.value === label));
      expect(new Map(merged.rows.map((r) => [r.value, r.count])), where).toEqual(new Map(truth.map((r) => [r.value, r.count])));
    }
  });
});
