/**
 * Speed-layer benchmarks (`make bench ONLY=speed`):
 * - speed_events_per_s: a topic pre-filled with BENCH_SPEED_EVENTS generated events (20 sites,
 *   60 minutes) consumed from the beginning by one in-process SpeedConsumer: decode + rollup +
 *   Redis Lua apply, timed from the first applied batch to the last (group join excluded).
 * - speed_freshness_p50_ms / p99: through the real collector under a steady background load;
 *   one probe page view at a time, from the collector's 202 to the probe being counted by the
 *   speed read API (SpeedReader.totals), polled every 5 ms.
 * Everything shares the machine's two cores with the broker and Redis.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import { loadConfig } from '../core/config.ts';
import { createKafka } from '../core/clients.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { parseSites } from '../core/sites.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { CollectorService, collectorOptions, generateTraffic, toCollectorJson, clientContext } from '../ingest/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/event.codec.ts';
import { SpeedConsumer, SpeedMaintenance, SpeedKeys, SpeedReader, speedOptions } from '../speed/index.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: config.LOG_LEVEL, pretty: false }, 'bench-speed');
const N = Number(process.env.BENCH_SPEED_EVENTS ?? 1_000_000);
const run = `bench-${Date.now().toString(36)}`;
const kafka = createKafka(config, logger, run);
const redis = new Redis(config.REDIS_URL);
const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
const admin = kafka.admin();
await admin.connect();
const topics: string[] = [];

async function topic(name: string, partitions: number): Promise<string> {
  const t = `${run}.${name}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: t, numPartitions: partitions, replicationFactor: 1 }] });
  topics.push(t);
  return t;
}

function consumerFor(t: string, dlq: string, prefix: string, metrics: Metrics): SpeedConsumer {
  return new SpeedConsumer({
    kafka, redis, registry, deadLetters: new DeadLetterWriter({ kafka, topic: dlq, logger, metrics }),
    watermark: { watermark: async () => null }, logger, metrics,
    options: speedOptions(config, { topic: t, groupId: `${run}-${prefix}`, keyPrefix: `${run}:${prefix}`, sessionTimeoutMs: 6_000 }),
  });
}

/** BENCH_SPEED_CPU_PROFILE=file.cpuprofile: V8 CPU profile of the consuming phase (open in Chrome DevTools). */
const profileFile = process.env.BENCH_SPEED_CPU_PROFILE;
const session = new Session();
async function startProfile(): Promise<void> {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
async function stopProfile(file: string): Promise<void> {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
  session.disconnect();
}

async function throughput(dlq: string): Promise<number> {
  const t = await topic('throughput', 6);
  const codec = new EventCodec(registry, t);
  await codec.init();
  const now = Date.now();
  const sites = Array.from({ length: 20 }, (_, i) => `site${i}`);
  const producer = kafka.producer();
  await producer.connect();
  let batch: { key: string; value: Buffer }[] = [];
  const inflight: Promise<unknown>[] = [];
  for (const e of generateTraffic({ seed: 1, sites, from: now - 60 * 60_000, to: now, events: N })) {
    batch.push({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) });
    if (batch.length === 10_000) {
      inflight.push(producer.send({ topic: t, acks: 1, messages: batch }));
      batch = [];
      if (inflight.length >= 4) await Promise.all(inflight.splice(0));
    }
  }
  inflight.push(producer.send({ topic: t, acks: 1, messages: batch }));
  await Promise.all(inflight);
  await producer.disconnect();
  const metrics = new Metrics();
  const consumer = consumerFor(t, dlq, 'tp', metrics);
  const consumed = metrics.counter('speed_events_consumed_total', 'registered by the consumer');
  await consumer.start();
  let t0 = 0;
  let c0 = 0;
  let cpu0 = process.cpuUsage();
  for (;;) {
    const c = (await consumed.get()).values[0]?.value ?? 0;
    if (c > 0 && t0 === 0) {
      [t0, c0, cpu0] = [performance.now(), c, process.cpuUsage()];
      if (profileFile) await startProfile();
    }
    if (c >= N) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const rate = (N - c0) / ((performance.now() - t0) / 1000);
  // CPU time of this process (consumer: Kafka client, decode, rollup, Redis client) per event:
  // less sensitive than the rate to what else runs on the shared cores.
  const cpu = process.cpuUsage(cpu0);
  if (profileFile) await stopProfile(profileFile);
  console.log(`bench: speed_consumer_cpu_us_per_event = ${((cpu.user + cpu.system) / (N - c0)).toFixed(1)}`);
  await consumer.stop();
  await new SpeedMaintenance({ redis, keys: new SpeedKeys(`${run}:tp`), ttlMs: config.SPEED_TTL }).clear();
  return rate;
}

async function freshness(dlq: string): Promise<{ p50: number; p99: number; samples: number }> {
  const t = await topic('fresh', 6);
  const siteIds = ['probe', 'load1', 'load2', 'load3'];
  const options = collectorOptions(config);
  options.producer.topic = t;
  const collector = new CollectorService(
    { kafka, registry, sites: parseSites({ sites: siteIds.map((id) => ({ id, writeKey: `wk_${id}_secret`, readKey: `rk_${id}_secret`, allowedOrigins: [] })) }), logger, metrics: new Metrics() },
    { ...options, port: 0, host: '127.0.0.1', dlqTopic: dlq, trustProxy: ['loopback'] },
  );
  await collector.start();
  const consumer = consumerFor(t, dlq, 'fresh', new Metrics());
  await consumer.start();
  const reader = new SpeedReader({ redis, keys: new SpeedKeys(`${run}:fresh`), ttlMs: config.SPEED_TTL });
  const post = async (site: string, events: ReturnType<typeof generateTraffic> extends Generator<infer E> ? E[] : never) => {
    const ctx = clientContext(events[0]!);
    const res = await fetch(`${collector.url}/v1/collect?site=${site}&key=wk_${site}_secret`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': ctx.userAgent, 'x-forwarded-for': ctx.ip }, body: JSON.stringify(events.map(toCollectorJson)),
    });
    if (res.status !== 202) throw new Error(`collector answered ${res.status}: ${await res.text()}`);
  };
  // Background: about 2,000 events/s on three other sites, live event times.
  let loading = true;
  const load = (async () => {
    let seed = 100;
    while (loading) {
      const now = Date.now();
      const evs = [...generateTraffic({ seed: seed++, sites: ['load1'], from: now - 1_000, to: now, events: 200, botFraction: 0 })].filter((e) => e.country !== null);
      await post('load1', evs).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 8_000)); // group join + warm-up
  const samples: number[] = [];
  const probeFrom = Date.now() - 60_000;
  let seen = (await reader.totals({ site: 'probe', from: probeFrom, to: Date.now() + 120_000, metrics: ['pageviews'] })).pageviews!;
  for (let i = 0; i < Number(process.env.BENCH_SPEED_PROBES ?? 150); i++) {
    const now = Date.now();
    const probe = [...generateTraffic({ seed: 10_000 + i, sites: ['probe'], from: now - 10, to: now, events: 1, botFraction: 0 })];
    probe[0]!.type = 'pageview';
    probe[0]!.name = 'pageview';
    await post('probe', probe);
    const acked = performance.now();
    for (;;) {
      const pv = (await reader.totals({ site: 'probe', from: probeFrom, to: Date.now() + 120_000, metrics: ['pageviews'] })).pageviews!;
      if (pv > seen) {
        seen = pv;
        break;
      }
      if (performance.now() - acked > 30_000) throw new Error('probe not visible after 30 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    samples.push(performance.now() - acked);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
  loading = false;
  await load;
  await consumer.stop();
  await collector.stop();
  await new SpeedMaintenance({ redis, keys: new SpeedKeys(`${run}:fresh`), ttlMs: config.SPEED_TTL }).clear();
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  return { p50: q(0.5), p99: q(0.99), samples: samples.length };
}

try {
  const dlq = await topic('dlq', 1);
  const only = process.env.BENCH_SPEED_ONLY;
  if (only !== 'freshness') console.log(`bench: speed_events_per_s = ${Math.round(await throughput(dlq))}`);
  if (only !== 'throughput') {
    const f = await freshness(dlq);
    console.log(`bench: speed_freshness_p50_ms = ${Math.round(f.p50)}`);
    console.log(`bench: speed_freshness_p99_ms = ${Math.round(f.p99)}`);
  }
} finally {
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
  redis.disconnect();
}
process.exit(0);
