/**
 * Part of the serving group (`make bench ONLY=serving`): the memory of a visitors total across W
 * over 400 days on a site with BENCH_UNIQUES_VISITORS (2,000,000) distinct batch visitors (one
 * page view each, over 40 days of the real lake and batch job; the speed store after W).
 * - serving_uniques_rss_mb: the process' RSS growth while it answers (after a collection, the
 *   peak sampled every 5 ms): the batch ids stream through a Redis sketch, never all here;
 * - serving_uniques_ms: time of that first answer; serving_uniques_again_ms: the same question
 *   again (the batch side's sketch kept);
 * - serving_uniques_error_pct: its distance from the distinct visitors counted from the events.
 */
import { createLogger } from '../core/logger.ts';
import { manyVisitorsStores } from '../serving/testing/many-visitors.fixture.ts';
import { mergeTotals } from '../serving/index.ts';
import { runCleanups } from '../testing/helpers.ts';

const VISITORS = Number(process.env.BENCH_UNIQUES_VISITORS ?? 2_000_000);
const MB = 2 ** 20;
const log = createLogger({ level: 'info', pretty: false }, 'bench-uniques');

try {
  const t0 = Date.now();
  const fx = await manyVisitorsStores('bench-uniques', VISITORS, 40);
  log.info({ event: 'bench_uniques_ready', visitors: fx.distinct, ms: Date.now() - t0 });
  const q = { site: fx.site, from: fx.from, to: fx.to, metrics: ['visitors' as const] };
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t1 = performance.now();
  const first = await mergeTotals(q, fx.ctx);
  const firstMs = performance.now() - t1;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const t2 = performance.now();
  const again = await mergeTotals(q, fx.ctx);
  const againMs = performance.now() - t2;
  if (first.uniques !== 'union' || again.values.visitors !== first.values.visitors) throw new Error(`unexpected answers: ${JSON.stringify([first, again.values])}`);
  console.log(`bench: serving_uniques_rss_mb = ${((peak - rss0) / MB).toFixed(1)}`);
  console.log(`bench: serving_uniques_ms = ${Math.round(firstMs)}`);
  console.log(`bench: serving_uniques_again_ms = ${Math.round(againMs)}`);
  console.log(`bench: serving_uniques_error_pct = ${((100 * Math.abs(first.values.visitors! - fx.distinct)) / fx.distinct).toFixed(2)}`);
} finally {
  await runCleanups();
}
process.exit(0);
