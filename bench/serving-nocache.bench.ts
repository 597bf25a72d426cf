/**
 * Serving without its cache (`make bench ONLY=serving` runs this beside serving.bench.ts):
 * serving_nocache_p99_ms and serving_nocache_rps, 7-day totals (page views, visitors, sessions) and
 * a 7-day day series (page views, visitors) round-robin, 50 connections (autocannon), of a site
 * only the speed store holds (a week of events before any batch run, in a key prefix of its own
 * with a TTL long enough), with the speed answer cache off (SERVING_SPEED_CACHE=0): every request
 * reads Redis. The hour and day keys (speed/README.md) make a week a few keys instead of 10,080
 * minutes. The events are applied the way the speed consumer applies them (rollups through the
 * apply script), without Kafka. BENCH_SERVING_NOCACHE_EVENTS (200,000) events, BENCH_SERVING_ROUNDS
 * rounds of BENCH_SERVING_SECONDS each, the median printed. Each round runs as fast as it goes
 * (serving_nocache_rps, serving_nocache_saturated_p99_ms) and then at the goal's 1,000 requests/s, due
 * evenly (bench/paced-load.ts: serving_nocache_p99_ms, with serving_nocache_paced_rps served and
 * serving_nocache_server_cpu_us, the server's CPU per request). Client, server and Redis share the two cores.
 */
import autocannon from 'autocannon';
import { createRedis } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { parseSites } from '../core/sites.ts';
import { alignDown } from '../core/views.ts';
import { buildServingApp, type BatchSource } from '../serving/index.ts';
import { SpeedKeys, SpeedMaintenance, SpeedReader } from '../speed/index.ts';
import { applyEvents } from '../speed/testing/speed.fixture.ts';
import { generateTraffic } from '../traffic/index.ts';
import { pacedLoad } from './paced-load.ts';
import { median } from './figures.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const EVENTS = Number(process.env.BENCH_SERVING_NOCACHE_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_SERVING_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SERVING_SECONDS ?? 5);
/** The rate the goal names (p99 ≤ 50 ms at ≥ 1,000 requests/s): BENCH_SERVING_NOCACHE_RATE. */
const PACED_RPS = Number(process.env.BENCH_SERVING_NOCACHE_RATE ?? 1_000);
const D = 86_400_000;
const now = Date.now();
const today = alignDown(now, 'day');
const ttlMs = 9 * D;
const KEY = 'rk_bench_live_key';
const log = (line: string) => console.error(`# ${line}`);

const redis = createRedis(config);
const keys = new SpeedKeys(`bench-nocache-${now.toString(36)}`);
const maintenance = new SpeedMaintenance({ redis, keys, ttlMs });
try {
  const events = [...generateTraffic({ seed: 7, sites: ['live'], from: today - 7 * D, to: now - 60_000, events: EVENTS, visitorsPerSite: 20_000 })];
  const t0 = Date.now();
  await applyEvents({ redis, keys, ttlMs }, events, 5_000);
  log(`${events.length} events over 7 days applied to the speed store in ${Date.now() - t0} ms`);
  events.length = 0;

  const sites = parseSites({ sites: [{ id: 'live', writeKey: 'wk_bench_live_key', readKey: KEY }] });
  const noBatch: BatchSource = { current: async () => null };
  const { app } = await buildServingApp({ batch: noBatch, speed: new SpeedReader({ redis, keys, ttlMs }), sites, options: { speedCacheMs: 0 } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const paths = ['/v1/sites/live/totals?metrics=pageviews,visitors,sessions&period=7d', '/v1/sites/live/series?metrics=pageviews,visitors&grain=day&period=7d'];
  for (const path of paths) {
    const r = await fetch(base + path, { headers: { authorization: `Bearer ${KEY}` } });
    const body = (await r.json()) as { results?: { metrics: (number | null)[] }[] };
    if (r.status !== 200 || !body.results?.length || !body.results.some((x) => (x.metrics[0] ?? 0) > 0)) throw new Error(`${path}: ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  const p99: number[] = [];
  const rps: number[] = [];
  const paced99: number[] = [];
  const pacedRps: number[] = [];
  const serverCpu: number[] = [];
  const requests = paths.map((path) => ({ method: 'GET' as const, path, headers: { authorization: `Bearer ${KEY}` } }));
  try {
    // Warm-up, not measured: the first seconds run before V8 has compiled the request path.
    await autocannon({ url: base, connections: 50, workers: 1, duration: 3, requests });
    for (let round = 1; round <= ROUNDS; round++) {
      const res = await autocannon({ url: base, connections: 50, workers: 1, duration: SECONDS, requests });
      if (res.errors + res.non2xx > 0) throw new Error(`serving_nocache: ${res.errors + res.non2xx} failed requests`);
      p99.push(res.latency.p99);
      rps.push(res.requests.average);
      log(`round ${round} (as fast as it goes): p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, ${Math.round(res.requests.average)} req/s`);
      // The goal's load: the same requests due at a steady PACED_RPS (bench/paced-load.ts; autocannon's
      // overallRate sends each second's share in a burst), latency counted from when each was due.
      // The server is this process (the client runs in its own): its CPU per request at that rate.
      const cpu0 = process.cpuUsage();
      const paced = await pacedLoad({ url: base, connections: 50, seconds: SECONDS, rate: PACED_RPS, requests });
      const cpu = process.cpuUsage(cpu0);
      serverCpu.push(Math.round((cpu.user + cpu.system) / paced.sent));
      if (paced.errors > 0) throw new Error(`serving_nocache paced: ${paced.errors} failed requests`);
      paced99.push(Math.round(paced.p99 * 10) / 10);
      pacedRps.push(paced.servedRps);
      log(`round ${round} (due at ${PACED_RPS} req/s): p50 ${paced.p50.toFixed(1)} ms, p90 ${paced.p90.toFixed(1)} ms, p99 ${paced.p99.toFixed(1)} ms, max ${paced.max.toFixed(1)} ms, ${Math.round(paced.servedRps)} req/s served, the server's CPU ${serverCpu.at(-1)} µs a request; the client sent late by p99 ${paced.sendLagP99.toFixed(1)} ms, max ${paced.sendLagMax.toFixed(1)} ms, using ${Math.round(paced.clientCpuUsPerRequest)} µs of CPU a request`);
    }
  } finally {
    await app.close();
  }
  // The headline p99 is at the goal's rate (served rate printed beside it); the saturated one apart.
  console.log(`bench: serving_nocache_p99_ms = ${median(paced99)}`);
  console.log(`bench: serving_nocache_paced_rps = ${Math.round(median(pacedRps))}`);
  console.log(`bench: serving_nocache_server_cpu_us = ${median(serverCpu)}`);
  console.log(`bench: serving_nocache_rps = ${Math.round(median(rps))}`);
  console.log(`bench: serving_nocache_saturated_p99_ms = ${median(p99)}`);
} finally {
  await maintenance.clear();
  await redis.quit();
}
