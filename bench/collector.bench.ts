/**
 * Collector benchmarks (`make bench ONLY=collector`):
 * - collector_events_per_s, collector_p50_ms, collector_p99_ms: HTTP → acknowledged by Kafka
 *   (acks=all, idempotent), 100-event JSON batches, 50 concurrent connections (autocannon),
 *   against the real collector in its own process writing to a fresh 6-partition topic.
 *   Median of BENCH_ROUNDS rounds of BENCH_SECONDS each, for no compression and for lz4.
 * - avro_encode_per_s / avro_decode_per_s: EventCodec.encode (validity check + Confluent
 *   framing) and decode of generated events, in this process.
 * - pipeline_events_per_s: the collector's per-event work without HTTP (validate, clock skew,
 *   enrich, encode) on JSON bytes.
 * The two cores are shared by broker, registry, collector and load generator: figures are noisy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import { createKafka } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { freePort } from '../core/processes.ts';
import { createLogger } from '../core/logger.ts';
import { loadSites, plainKeys } from '../core/sites.ts';
import { collectorOptions, createEventPipeline } from '../ingest/index.ts';
import { clientContext, generateTraffic, toCollectorJson } from '../traffic/index.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: 'warn', pretty: false }, 'bench-collector');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const run = `bench-collector-${Date.now().toString(36)}`;
const sites = loadSites(config.SITES_FILE);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const print = (name: string, value: number) => console.log(`bench: ${name} = ${Math.round(value * 100) / 100}`);

/** 400 request bodies of 100 events each, one client (site, user agent, IP) per body. */
function requestBodies(): { path: string; headers: Record<string, string>; body: string }[] {
  const now = Date.now();
  const byClient = new Map<string, TwinlaneEvent[]>();
  const out: { path: string; headers: Record<string, string>; body: string }[] = [];
  for (const e of generateTraffic({ seed: 3, sites: sites.ids(), from: now - 3_600_000, to: now, events: 60_000 })) {
    const { userAgent, ip } = clientContext(e);
    const key = `${e.site_id}|${userAgent}|${ip}`;
    const list = byClient.get(key) ?? [];
    list.push(e);
    byClient.set(key, list);
    if (list.length === 100) {
      byClient.delete(key);
      const site = sites.get(e.site_id)!;
      out.push({
        path: `/v1/collect?site=${site.id}&key=${plainKeys(site, 'the collector bench').writeKey}`,
        headers: { 'content-type': 'application/json', 'user-agent': userAgent, 'x-forwarded-for': ip },
        body: JSON.stringify(list.map(toCollectorJson)),
      });
      if (out.length === 400) break;
    }
  }
  return out;
}

async function startCollector(topic: string, dlq: string, compression: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/twinlane.ts', 'ingest', 'collector', '--port', String(port), '--host', '127.0.0.1', '--compression', compression], {
    // Rate limits on (each request is counted in Redis), at limits this load never reaches.
    env: { COLLECTOR_RATE_LIMIT_CLIENT: '100000000/1m', COLLECTOR_RATE_LIMIT_SITE: '100000000/1m', ...process.env, EVENTS_TOPIC: topic, DLQ_TOPIC: dlq, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`collector exited with ${child.exitCode}`);
    if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) return { child, url };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('collector did not become ready within 60 s');
}

async function load(url: string, bodies: ReturnType<typeof requestBodies>, seconds: number): Promise<{ eventsPerS: number; p50: number; p99: number; non2xx: number }> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: 50,
    duration: seconds,
    requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...bodies[i++ % bodies.length]! }) }],
  });
  return { eventsPerS: (result.requests.total - result.non2xx) * 100 / seconds, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

async function collectorFigures(admin: ReturnType<ReturnType<typeof createKafka>['admin']>, compression: 'none' | 'lz4'): Promise<{ eventsPerS: number; p50: number; p99: number; non2xx: number }> {
  const topic = `${run}.${compression}`;
  const dlq = `${run}.${compression}.dlq`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, replicationFactor: 1 }, { topic: dlq, numPartitions: 1, replicationFactor: 1 }] });
  const { child, url } = await startCollector(topic, dlq, compression);
  try {
    const bodies = requestBodies();
    await load(url, bodies, 2); // warm-up: JIT, connections, metadata
    const rounds = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(await load(url, bodies, SECONDS));
    return { eventsPerS: median(rounds.map((r) => r.eventsPerS)), p50: median(rounds.map((r) => r.p50)), p99: median(rounds.map((r) => r.p99)), non2xx: rounds.reduce((a, r) => a + r.non2xx, 0) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await admin.deleteTopics({ topics: [topic, dlq] }).catch(() => undefined);
  }
}

async function codecFigures(): Promise<void> {
  const topic = `${run}.codec`;
  const codec = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic);
  await codec.init();
  const now = Date.now();
  const events = [...generateTraffic({ seed: 5, sites: sites.ids(), from: now - 3_600_000, to: now, events: 50_000 })];
  const time = (fn: () => void, n: number) => {
    const t = process.hrtime.bigint();
    fn();
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  const encoded = events.map((e) => codec.encode(e));
  const enc: number[] = [];
  const dec: number[] = [];
  const pipe: number[] = [];
  const pipeline = createEventPipeline({ codec, sites, options: collectorOptions(config) });
  const raws = events.map((e) => ({ raw: Buffer.from(JSON.stringify(toCollectorJson(e))), site: e.site_id, ...clientContext(e) }));
  for (let r = 0; r < 5; r++) {
    enc.push(time(() => { for (const e of events) codec.encode(e); }, events.length));
    dec.push(time(() => { for (const b of encoded) codec.decodeCached(b); }, encoded.length));
    pipe.push(time(() => { for (const x of raws) pipeline.process(x.raw, { siteId: x.site, ip: x.ip, userAgent: x.userAgent, receivedAt: now }); }, raws.length));
  }
  print('avro_encode_per_s', median(enc));
  print('avro_decode_per_s', median(dec));
  print('pipeline_events_per_s', median(pipe));
}

await codecFigures();
const kafka = createKafka(config, logger, run);
const admin = kafka.admin();
await admin.connect();
try {
  const none = await collectorFigures(admin, 'none');
  const lz4 = await collectorFigures(admin, 'lz4');
  // The headline figures are the collector's default (no compression); lz4 is the comparison.
  print('collector_events_per_s', none.eventsPerS);
  print('collector_p50_ms', none.p50);
  print('collector_p99_ms', none.p99);
  print('collector_events_per_s_lz4', lz4.eventsPerS);
  print('collector_p50_ms_lz4', lz4.p50);
  print('collector_p99_ms_lz4', lz4.p99);
  print('collector_non2xx', none.non2xx + lz4.non2xx);
  console.log(`# lz4 vs none: ${Math.round((lz4.eventsPerS / none.eventsPerS - 1) * 100)} % events/s (median of ${ROUNDS} rounds of ${SECONDS} s, 100-event batches, 50 connections)`);
} finally {
  await admin.disconnect();
}
