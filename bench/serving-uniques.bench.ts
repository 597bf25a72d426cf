/**
 * Part of the serving group (`make bench ONLY=serving`): the memory of a visitors total across W
 * over 400 days on a site with BENCH_UNIQUES_VISITORS (2,000,000) distinct batch visitors (one
 * page view each, over 40 days of the real lake and batch job; the speed store after W). The stores
 * are built here; the question is asked by a process of its own holding only the serving side
 * (the DuckDB reader over the batch views, the speed reader), as a serving instance would:
 * - serving_uniques_rss_mb: that process' RSS growth while it answers (after a collection, the
 *   peak sampled every 5 ms): the batch ids stream through a Redis sketch, never all in memory;
 * - serving_uniques_ms: time of that first answer; serving_uniques_again_ms: the same question
 *   again (the batch side's sketch kept);
 * - serving_uniques_error_pct: its distance from the distinct visitors counted from the events.
 */
import { fork } from 'node:child_process';
import { BatchReader } from '../batch/index.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { mergeTotals, type BatchViews } from '../serving/index.ts';
import { manyVisitorsStores, type ManyVisitors } from '../serving/testing/many-visitors.fixture.ts';
import { SpeedKeys, SpeedReader } from '../speed/index.ts';
import { runCleanups } from '../testing/helpers.ts';
import { Redis } from 'ioredis';

const VISITORS = Number(process.env.BENCH_UNIQUES_VISITORS ?? 2_000_000);
const MB = 2 ** 20;

/** Where the stores are and the question: what the answering process needs of the fixture. */
type Ask = Pick<ManyVisitors, 'dataDir' | 'speedPrefix' | 'ttlMs' | 'site' | 'from' | 'to'>;

/** The serving side alone: opens the stores, answers twice, reports. */
async function answer(ask: Ask): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const batch = new BatchReader({ dataDir: ask.dataDir, duckdb: { memoryLimit: '512MB', threads: 2 } });
  const redis = new Redis(config.REDIS_URL);
  const ctx = { batch: (await batch.snapshot()) as BatchViews, speed: new SpeedReader({ redis, keys: new SpeedKeys(ask.speedPrefix), ttlMs: ask.ttlMs }), choice: 'merged' as const, now: Date.now() };
  const q = { site: ask.site, from: ask.from, to: ask.to, metrics: ['visitors' as const] };
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let heapPeak = 0;
  let nativePeak = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    heapPeak = Math.max(heapPeak, m.heapTotal);
    nativePeak = Math.max(nativePeak, m.rss - m.heapTotal);
  }, 5);
  const heap0 = process.memoryUsage().heapTotal;
  const native0 = rss0 - heap0;
  const t1 = performance.now();
  const first = await mergeTotals(q, ctx);
  const firstMs = performance.now() - t1;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const t2 = performance.now();
  const again = await mergeTotals(q, ctx);
  const againMs = performance.now() - t2;
  process.send!({ heapMb: (heapPeak - heap0) / MB, nativeMb: (nativePeak - native0) / MB, rssMb: (peak - rss0) / MB, rss0Mb: rss0 / MB, firstMs, againMs, visitors: first.values.visitors, again: again.values.visitors, how: first.uniques });
  await batch.close();
  redis.disconnect();
}

if (process.argv[2] === 'answer') {
  await answer(JSON.parse(process.argv[3]!) as Ask);
  process.exit(0);
}

const log = createLogger({ level: 'info', pretty: false }, 'bench-uniques');
try {
  const t0 = Date.now();
  const fx = await manyVisitorsStores('bench-uniques', VISITORS, 40);
  log.info({ event: 'bench_uniques_ready', visitors: fx.distinct, ms: Date.now() - t0 });
  const ask: Ask = { dataDir: fx.dataDir, speedPrefix: fx.speedPrefix, ttlMs: fx.ttlMs, site: fx.site, from: fx.from, to: fx.to };
  const child = fork(new URL(import.meta.url).pathname, ['answer', JSON.stringify(ask)], { execArgv: ['--expose-gc', '--import', 'tsx'] });
  const r = await new Promise<{ heapMb: number; nativeMb: number; rssMb: number; rss0Mb: number; firstMs: number; againMs: number; visitors: number; again: number; how: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as never));
    child.once('exit', (code) => reject(new Error(`the answering process exited with ${code}`)));
  });
  if (r.how !== 'union' || r.again !== r.visitors) throw new Error(`unexpected answers: ${JSON.stringify(r)}`);
  log.info({ event: 'bench_uniques_answered', rss_before_mb: Math.round(r.rss0Mb), heap_growth_mb: Math.round(r.heapMb), other_growth_mb: Math.round(r.nativeMb), visitors: r.visitors, distinct: fx.distinct });
  console.log(`bench: serving_uniques_rss_mb = ${r.rssMb.toFixed(1)}`);
  console.log(`bench: serving_uniques_ms = ${Math.round(r.firstMs)}`);
  console.log(`bench: serving_uniques_again_ms = ${Math.round(r.againMs)}`);
  console.log(`bench: serving_uniques_error_pct = ${((100 * Math.abs(r.visitors - fx.distinct)) / fx.distinct).toFixed(2)}`);
} finally {
  await runCleanups();
}
process.exit(0);
