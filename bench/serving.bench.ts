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
 * - serving_multidim_p99_ms: top-10 country × device combinations by page views over 7 days
 *   (batch + speed merged; issue 22's goal: p99 < 50 ms at >= 1,000 requests/s);
 * - serving_rps: the first three queries round-robin, requests per second.
 * With BENCH_SERVING_MODE=clickhouse (`make bench ONLY=clickhouse` runs it so) the same version is
 * also published into ClickHouse and the batch-side queries run against both stores, cached and
 * with no batch answer reused (the speed side keeps its 1 s cache), BENCH_SERVING_CONNECTIONS (10)
 * connections: serving_ch_series_p99_ms, serving_ch_breakdown_p99_ms, serving_ch_rps (ClickHouse,
 * uncached; the goal: p99 < 100 ms at >= 300 req/s) beside serving_ch_cached_*,
 * serving_duckdb_cached_* and serving_duckdb_uncached_*.
 * Each figure is the median of BENCH_SERVING_ROUNDS rounds. The two cores are shared by the
 * client, the server, Redis and the broker, and with other people's work.
 */
import autocannon from 'autocannon';
import { loadConfig } from '../core/config.ts';
import { rateLimitRedis } from '../core/clients.ts';
import { createLogger } from '../core/logger.ts';
import { parseSites } from '../core/sites.ts';
import { alignDown } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { buildServingApp } from '../serving/index.ts';
import { startPipeline } from '../serving/testing/pipeline.fixture.ts';
import { runCleanups } from '../testing/helpers.ts';
import type { BatchSource } from '../serving/index.ts';
import { clickhouseViewsReader, viewsPublishPorts } from '../apps/index.ts';
import { ClickHouseConnection, quoteIdentifier } from '../clickhouse/index.ts';
import { median } from './figures.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const N = Number(process.env.BENCH_SERVING_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_SERVING_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SERVING_SECONDS ?? 5);
/** `clickhouse` (from `make bench ONLY=clickhouse`): the batch-view stores side by side instead. */
const MODE = process.env.BENCH_SERVING_MODE === 'clickhouse' ? 'clickhouse' : 'duckdb';
/**
 * Connections of the `clickhouse` mode: an uncached answer takes tens of milliseconds of
 * ClickHouse's time, so 50 connections would only measure the queue in front of two cores.
 */
const CONNECTIONS = Number(process.env.BENCH_SERVING_CONNECTIONS ?? 10);
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
// The events are in the stores now: released, so the server measured here collects garbage in a
// heap of its own size rather than one holding every generated event.
events.length = 0;
const days = Array.from({ length: 30 }, (_, i) => new Date(today - (30 - i) * D).toISOString().slice(0, 10));
const t0 = Date.now();
const run = await fx.runBatchFor(days);
log(`batch over ${days.length} days: ${run.status} in ${Date.now() - t0} ms, W = ${new Date(run.watermark ?? 0).toISOString()}`);

type Request = { path: string; key: string };
/**
 * Rate limits on, as deployed (two Redis checks per request), at limits this load never reaches;
 * BENCH_RATE_LIMIT=off leaves them out, for a comparison within one sitting.
 */
const limiterRedis = rateLimitRedis(config);
const GENEROUS = { max: 1_000_000_000, windowMs: 60_000 };
const rateLimit = process.env.BENCH_RATE_LIMIT === 'off' ? undefined : { limits: { client: GENEROUS, site: GENEROUS }, redis: limiterRedis, keyPrefix: `bench-${Date.now().toString(36)}:` };
log(`rate limits ${rateLimit ? 'on (generous)' : 'off'}`);
/** BENCH_RATE_LIMIT=compare: rounds alternate between an app with the limits and one without. */
const COMPARE_LIMITS = process.env.BENCH_RATE_LIMIT === 'compare';
const PATHS: Record<string, Request> = {
  series: { path: '/v1/sites/shop/series?metrics=pageviews,visitors&grain=hour&period=30d', key: KEY },
  breakdown: { path: '/v1/sites/shop/breakdown/page?metric=pageviews&limit=10&period=7d', key: KEY },
  realtime: { path: '/v1/sites/shop/realtime', key: KEY },
  zone_series: { path: '/v1/sites/blog/series?metrics=pageviews,visitors&grain=hour&period=30d', key: ZONE_KEY },
  // Issue 22: a two-dimension breakdown over 7 days (batch + speed merged), the goal p99 < 50 ms at >= 1,000 req/s.
  multidim: { path: '/v1/sites/shop/breakdown/country,device?metric=pageviews&limit=10&period=7d', key: KEY },
};
const MIXED = [PATHS.series!, PATHS.breakdown!, PATHS.realtime!];

/**
 * `batch` with its results never reused: serving caches batch answers under the pinned version,
 * so each request's snapshot gets a version of its own. The speed side keeps its cache, so what
 * is measured is the batch store itself.
 */
function uncachedBatch(batch: BatchSource): BatchSource {
  let n = 0;
  return {
    async current() {
      const snap = await batch.current();
      return snap && (Object.create(snap, { version: { value: `${snap.version}#${++n}` } }) as typeof snap);
    },
  };
}

/**
 * A serving app on a free port over `batch`; `cached: false` never reuses a batch answer, and keeps
 * a small result cache: the few speed entries, read by every request, stay; the batch entries,
 * each used once, leave at once instead of filling 5,000 entries with 70 KB answers for the GC.
 */
async function serve(batch: BatchSource, cached: boolean, limited = rateLimit !== undefined): Promise<{ base: string; close: () => Promise<void> }> {
  const limits = limited ? (rateLimit ?? { limits: { client: GENEROUS, site: GENEROUS }, redis: limiterRedis, keyPrefix: `bench-${Date.now().toString(36)}:` }) : undefined;
  const { app } = await buildServingApp({ batch: cached ? batch : uncachedBatch(batch), speed: fx.speed, sites, ...(limits ? { rateLimit: limits } : {}), options: { speedCacheMs: config.SERVING_SPEED_CACHE, ...(cached ? {} : { cacheEntries: 64 }) } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  for (const { path, key } of Object.values(PATHS)) {
    const r = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  }
  return { base, close: () => app.close() };
}

/** Load on `requests` as fast as `connections` connections go. */
async function load(base: string, requests: Request[], connections = 50): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const result = await autocannon({
    url: base,
    connections,
    workers: 1,
    duration: SECONDS,
    requests: requests.map(({ path, key }) => ({ method: 'GET', path, headers: { authorization: `Bearer ${key}` } })),
  });
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, errors: result.errors + result.non2xx };
}


/**
 * ROUNDS rounds of each query alone and the mix, each as fast as `connections` connections go;
 * prints `bench: <prefix><query>_p50_ms|p99_ms|rps` and `<prefix>rps` (the mix).
 */
async function measure(prefix: string, base: string, paths: Record<string, Request>, connections = 50): Promise<void> {
  const figures: Record<string, { p50: number[]; p99: number[]; rps: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, reqs] of [...Object.entries(paths).map(([n, p]) => [n, [p]] as const), ['mixed', MIXED] as const]) {
      const res = await load(base, [...reqs], connections);
      if (res.errors > 0) throw new Error(`${prefix}${name}: ${res.errors} failed requests`);
      const f = (figures[name] ??= { p50: [], p99: [], rps: [] });
      f.p50.push(res.p50);
      f.p99.push(res.p99);
      f.rps.push(res.rps);
      log(`round ${round + 1} ${prefix}${name} (${connections} connections): p50 ${res.p50} ms, p99 ${res.p99} ms, ${Math.round(res.rps)} req/s`);
    }
  }
  for (const name of Object.keys(paths)) {
    console.log(`bench: ${prefix}${name}_p50_ms = ${median(figures[name]!.p50)}`);
    console.log(`bench: ${prefix}${name}_p99_ms = ${median(figures[name]!.p99)}`);
    console.log(`bench: ${prefix}${name}_rps = ${Math.round(median(figures[name]!.rps))}`);
  }
  console.log(`bench: ${prefix}rps = ${Math.round(median(figures.mixed!.rps))}`);
}

/**
 * The cost of the rate limits within one sitting: each round loads every query on the app with
 * limits and then on the one without; prints `serving_rate_limit_ratio_<query>` (medians, on/off).
 */
async function compareLimits(batch: BatchSource): Promise<void> {
  const [on, off] = [await serve(batch, true, true), await serve(batch, true, false)];
  const rps: Record<string, { on: number[]; off: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, reqs] of [...Object.entries(PATHS).map(([n, p]) => [n, [p]] as const), ['mixed', MIXED] as const]) {
      const f = (rps[name] ??= { on: [], off: [] });
      for (const [side, app] of [['on', on], ['off', off]] as const) {
        const res = await load(app.base, [...reqs]);
        if (res.errors > 0) throw new Error(`${name} (limits ${side}): ${res.errors} failed requests`);
        f[side].push(res.rps);
        log(`round ${round + 1} ${name}, limits ${side}: p99 ${res.p99} ms, ${Math.round(res.rps)} req/s`);
      }
    }
  }
  for (const [name, f] of Object.entries(rps)) console.log(`bench: serving_rate_limit_ratio_${name} = ${(median(f.on) / median(f.off)).toFixed(3)}`);
  await on.close();
  await off.close();
}

const duckdb: BatchSource = { current: () => fx.batch.snapshot() };
if (MODE === 'duckdb' && COMPARE_LIMITS) {
  await compareLimits(duckdb);
} else if (MODE === 'duckdb') {
  const app = await serve(duckdb, true);
  await measure('serving_', app.base, PATHS);
  await app.close();
} else {
  // The same version published into ClickHouse (a database of its own), as the `views` step does.
  const chConfig = loadConfig({ ...process.env, LOG_LEVEL: 'warn', DATA_DIR: fx.dataDir, BATCH_VIEWS_STORE: 'clickhouse', CLICKHOUSE_DATABASE: `bench_views_${Date.now().toString(36)}` });
  const ports = viewsPublishPorts(chConfig, createLogger({ level: 'warn', pretty: false }, 'bench-views'));
  const reader = clickhouseViewsReader(chConfig);
  if (!ports || !reader) throw new Error('no ClickHouse: run `make stack-up` (it starts one) or set CLICKHOUSE_URL');
  try {
    const t1 = Date.now();
    const published = await ports.views.publish({ signal: new AbortController().signal });
    log(`published ${published.version} into ClickHouse: ${published.loaded.length} day folders, ${published.loaded.reduce((n, l) => n + l.rows, 0)} events, in ${Date.now() - t1} ms`);
    const clickhouse: BatchSource = { current: () => reader.snapshot() };
    // Batch-side queries only (realtime is speed's alone), each store cached and uncached; the goal
    // figures (serving_ch_*) are ClickHouse's with no batch answer reused, the rps of each query the
    // rate its latencies were taken at.
    const { realtime: _realtime, ...batchPaths } = PATHS;
    for (const [prefix, source, cached] of [
      ['serving_duckdb_cached_', duckdb, true],
      ['serving_duckdb_uncached_', duckdb, false],
      ['serving_ch_cached_', clickhouse, true],
      ['serving_ch_', clickhouse, false],
    ] as const) {
      // BENCH_SERVING_ONLY=serving_ch_ (a comma list of prefixes) measures those alone, for profiling.
      if (process.env.BENCH_SERVING_ONLY && !process.env.BENCH_SERVING_ONLY.split(',').includes(prefix)) continue;
      const app = await serve(source, cached);
      await measure(prefix, app.base, batchPaths, CONNECTIONS);
      await app.close();
    }
  } finally {
    await reader.close();
    const drop = new ClickHouseConnection(ports.options.clickhouse);
    // BENCH_SERVING_KEEP=1 leaves the published database for measuring ClickHouse alone.
    if (process.env.BENCH_SERVING_KEEP === '1') log(`kept ClickHouse database ${chConfig.CLICKHOUSE_DATABASE}`);
    else await drop.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(chConfig.CLICKHOUSE_DATABASE)}`, 'dropping the bench database').catch(() => undefined);
    await drop.close();
    await ports.close();
  }
}

limiterRedis.disconnect();
await runCleanups();
process.exit(0);
