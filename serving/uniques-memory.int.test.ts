/**
 * Uniques across W stay within a memory bound whatever the range (issue: safe on the internet,
 * part 2): a 400-day visitors total of a site with 200,000 distinct batch visitors grows serving's
 * RSS by less than 50 MB (the batch ids stream through a Redis sketch, never all in the process),
 * and is within the sketch bound of the distinct visitors counted from the events. Real lake,
 * batch job, DuckDB reader and Redis.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups } from '../testing/helpers.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { manyVisitorsStores } from './testing/many-visitors.fixture.ts';
import { mergeTotals } from './view.merger.ts';

const MB = 2 ** 20;

describe('a 400-day visitors total across W', () => {
  afterAll(runCleanups);

  it('with 200,000 distinct batch visitors: RSS grows by less than 50 MB, the answer within the sketch bound', async () => {
    const fx = await manyVisitorsStores('uniques-memory', 200_000, 8);
    expect((await fx.ctx.batch!.coverage(fx.site))?.to).toBe(fx.W);
    const q = { site: fx.site, from: fx.from, to: fx.to, metrics: ['visitors' as const] };
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const t = await mergeTotals(q, fx.ctx);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(t.uniques).toBe('union');
    expect(t.sources).toEqual(['batch', 'speed']);
    const got = t.values.visitors!;
    expect(withinSketchBound(got, fx.distinct), `${got} against ${fx.distinct} distinct visitors`).toBe(true);
    expect(fx.distinct).toBeGreaterThan(200_000);
    expect((peak - rss0) / MB, `RSS grew from ${Math.round(rss0 / MB)} to ${Math.round(peak / MB)} MB`).toBeLessThan(50);
    // Asked again: the batch side's sketch is kept (the ids are not read again), the answer is the same.
    expect((await mergeTotals(q, fx.ctx)).values.visitors).toBe(got);
  }, 120_000);
});
