/**
 * Serving benchmarks (`make bench ONLY=serving`), against the real stores: BENCH_SERVING_EVENTS
 * generated events over 31 days go through Kafka into the real lake archiver and speed consumer;
 * the real batch job computes the 30 complete days (W = today 00:00 UTC), speed holds the last
 * 48 hours. The API listens on a free port; autocannon (50 connections, in a worker thread)
 * drives it for each query:
 * - serving_series_p99_ms: 30-day hourly series of page views and visitors (720 buckets,
 *   batch before W, speed after);
 * - serving_breakdown_p99_ms: top-10 pages over 7 days (batch + speed merged);
 * - serving_realtime_p99_ms: active visitors and 30 minutes of page views (speed);
 * - serving_zone_series_p99_ms: the series query for a site in Asia/Kolkata, whose local hours
 *   batch cuts from the day's events instead of its precomputed UTC hours;
 * - serving_rps: the first three queries round-robin, requests per second.
 * Each figure is the median of BENCH_SERVING_ROUNDS rounds. The two cores are shared by the
 * client, the server, Redis and the broker, and with other people's work.
 */
import autocannon from 'autocannon';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { parseSites } from '../core/sites.ts';
import { alignDown } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp } from '../serving/index.ts';
import { startPipeline } from '../serving/testing/pipeline.fixture.ts';
import { runCleanups } from '../testing/helpers.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const N = Number(process.env.BENCH_SERVING_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_SERVING_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SERVING_SECONDS ?? 5);
const D = 86_400_000;
const now = Date.now();
const today = alignDown(now, 'day');
const KEY = 'rk_bench_serving_key';
const ZONE_KEY = 'rk_bench_blog_key';
/** The blog's days are Kolkata's (UTC+05:30): its local hours come from the events. */
const sites = parseSites({ sites: ['shop', 'blog', 'docs'].map((id) => ({ id, writeKey: `wk_bench_${id}_key`, readKey: id === 'shop' ? KEY : `rk_bench_${id}_key`, ...(id === 'blog' ? { timezone: 'Asia/Kolkata' } : {}) })) });
const log = (line: string) => console.error(`# ${line}`);

const events = [...generateTraffic({ seed: 99, sites: ['shop', 'blog', 'docs'], from: today - 30 * D, to: now - 60_000, events: N, visitorsPerSite: 20_000 })];
const fx = await startPipeline(config, { events, speedTtlMs: config.SPEED_TTL, timeoutMs: 900_000, rollAgeMs: 60_000, rollRows: 250_000, sessionTimeoutMs: 60_000, log, logger: createLogger({ level: 'warn', pretty: false }, 'bench-serving') });
const days = Array.from({ length: 30 }, (_, i) => new Date(today - (30 - i) * D).toISOString().slice(0, 10));
const t0 = Date.now();
const run = await fx.runBatchFor(days);
log(`batch over ${days.length} days: ${run.status} in ${Date.now() - t0} ms, W = ${new Date(run.watermark ?? 0).toISOString()}`);

const { app } = await buildServingApp({ batch: { current: () => fx.batch.snapshot() }, speed: fx.speed, sites, options: { speedCacheMs: config.SERVING_SPEED_CACHE } });
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
type Request = { path: string; key: string };
const PATHS: Record<string, Request> = {
  series: { path: '/v1/sites/shop/series?metrics=pageviews,visitors&grain=hour&period=30d', key: KEY },
  breakdown: { path: '/v1/sites/shop/breakdown/page?metric=pageviews&limit=10&period=7d', key: KEY },
  realtime: { path: '/v1/sites/shop/realtime', key: KEY },
  zone_series: { path: '/v1/sites/blog/series?metrics=pageviews,visitors&grain=hour&period=30d', key: ZONE_KEY },
};
const MIXED = [PATHS.series!, PATHS.breakdown!, PATHS.realtime!];

for (const { path, key } of Object.values(PATHS)) {
  const r = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
}

async function load(requests: Request[]): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const result = await autocannon({
    url: base,
    connections: 50,
    workers: 1,
    duration: SECONDS,
    requests: requests.map(({ path, key }) => ({ method: 'GET', path, headers: { authorization: `Bearer ${key}` } })),
  });
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, errors: result.errors + result.non2xx };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const figures: Record<string, { p50: number[]; p99: number[]; rps: number[] }> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, paths] of [...Object.entries(PATHS).map(([n, p]) => [n, [p]] as const), ['mixed', MIXED] as const]) {
    const r = await load([...paths]);
    if (r.errors > 0) throw new Error(`${name}: ${r.errors} failed requests`);
    const f = (figures[name] ??= { p50: [], p99: [], rps: [] });
    f.p50.push(r.p50);
    f.p99.push(r.p99);
    f.rps.push(r.rps);
    log(`round ${round + 1} ${name}: p50 ${r.p50} ms, p99 ${r.p99} ms, ${Math.round(r.rps)} req/s`);
  }
}

for (const name of Object.keys(PATHS)) {
  console.log(`bench: serving_${name}_p50_ms = ${median(figures[name]!.p50)}`);
  console.log(`bench: serving_${name}_p99_ms = ${median(figures[name]!.p99)}`);
  console.log(`bench: serving_${name}_rps = ${Math.round(median(figures[name]!.rps))}`);
}
console.log(`bench: serving_rps = ${Math.round(median(figures.mixed!.rps))}`);

await app.close();
await runCleanups();
process.exit(0);
