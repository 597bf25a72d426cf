/**
 * Speed-layer benchmarks (`make bench ONLY=speed`):
 * - speed_events_per_s: a topic pre-filled with BENCH_SPEED_EVENTS generated events (20 sites,
 *   60 minutes, 6 partitions) consumed from the beginning by SPEED_INSTANCES consumer processes
 *   of one group, as `make pipeline` deploys them (default 2): decode + rollup + Redis Lua
 *   apply, timed once every instance has partitions until the last event is applied.
 *   speed_events_per_s_one_instance: the same topic read again by one in-process consumer
 *   (timed from its first applied batch; BENCH_SPEED_CPU_PROFILE profiles it).
 * - speed_freshness_p50_ms / p99: through the real collector under a steady background load;
 *   one probe page view at a time, from the collector's 202 to the probe being counted by the
 *   speed read API (SpeedReader.totals), polled every 5 ms.
 * Everything shares the machine's two cores with the broker and Redis.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../core/config.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { createKafka, redisClientOf } from '../core/clients.ts';
import { isCluster } from '../core/redis-client.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { parseSites } from '../core/sites.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { CollectorService, collectorOptions } from '../ingest/index.ts';
import { generateTraffic, toCollectorJson, clientContext } from '../traffic/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { SpeedConsumer, SpeedMaintenance, SpeedKeys, SpeedReader, speedOptions } from '../speed/index.ts';
import { quantile } from './figures.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: config.LOG_LEVEL, pretty: false }, 'bench-speed');
const N = Number(process.env.BENCH_SPEED_EVENTS ?? 1_000_000);
const run = process.env.BENCH_SPEED_RUN ?? `bench-${Date.now().toString(36)}`;
/** Consumer instances of the deployment run (child processes of one group). */
const INSTANCES = Number(process.env.BENCH_SPEED_INSTANCES ?? config.SPEED_INSTANCES);
const kafka = createKafka(config, logger, run);
const redis = redisClientOf(config);
const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
const admin = kafka.admin();
await admin.connect();
const topics: string[] = [];

async function topic(name: string, partitions: number): Promise<string> {
  const t = `${run}.${name}`;
  // The broker's default replication factor (3 on the cluster stack, STACK=cluster).
  await createTopicsWithLeaders(admin, [{ topic: t, numPartitions: partitions }]);
  topics.push(t);
  return t;
}

/** BENCH_SPEED_MAX_BYTES / BENCH_SPEED_CONCURRENCY / BENCH_SPEED_PER_ROUND: try other fetch sizes, concurrency and rounds. */
const tuning = {
  ...(process.env.BENCH_SPEED_MAX_BYTES ? { maxBytesPerPartition: Number(process.env.BENCH_SPEED_MAX_BYTES) } : {}),
  ...(process.env.BENCH_SPEED_CONCURRENCY ? { partitionsConcurrently: Number(process.env.BENCH_SPEED_CONCURRENCY) } : {}),
  ...(process.env.BENCH_SPEED_PER_ROUND ? { partitionsPerRound: Number(process.env.BENCH_SPEED_PER_ROUND) } : {}),
};

function consumerFor(t: string, dlq: string, prefix: string, metrics: Metrics): SpeedConsumer {
  return new SpeedConsumer({
    kafka, redis, registry, deadLetters: new DeadLetterWriter({ kafka, topic: dlq, logger, metrics }),
    watermark: { watermark: async () => null }, logger, metrics,
    options: speedOptions(config, { topic: t, groupId: `${run}-${prefix}`, keyPrefix: `${run}:${prefix}`, sessionTimeoutMs: 6_000, ...tuning }),
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

async function throughput(dlq: string): Promise<void> {
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
  for (const instances of INSTANCES > 1 ? [INSTANCES, 1] : [1]) {
    const prefix = `tp${instances}`;
    const redis0 = await redisCpuUs();
    const rate = instances > 1 ? await consumeInChildren(t, dlq, prefix, instances) : await consumeInProcess(t, dlq, prefix);
    const name = instances === INSTANCES ? 'speed_events_per_s' : 'speed_events_per_s_one_instance';
    console.log(`bench: ${name} = ${Math.round(rate)}`);
    // Redis shares the cores: its CPU per event is the other half of the budget.
    console.log(`bench: ${name.replace('events_per_s', 'redis_cpu_us_per_event')} = ${(((await redisCpuUs()) - redis0) / N).toFixed(1)}`);
    await new SpeedMaintenance({ redis, keys: new SpeedKeys(`${run}:${prefix}`), ttlMs: config.SPEED_TTL }).clear();
  }
}

/** CPU time Redis has used (INFO cpu; every node of a cluster, replicas included), in µs. */
async function redisCpuUs(): Promise<number> {
  let us = 0;
  for (const node of isCluster(redis) ? redis.nodes('all') : [redis]) {
    const info = await node.info('cpu');
    const v = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    us += (v('used_cpu_user') + v('used_cpu_sys')) * 1e6;
  }
  return us;
}

async function consumeInProcess(t: string, dlq: string, prefix: string): Promise<number> {
  const metrics = new Metrics();
  const consumer = consumerFor(t, dlq, prefix, metrics);
  const consumed = metrics.counter('speed_events_consumed_total', 'registered by the consumer');
  await consumer.start();
  let t0 = 0;
  let c0 = 0;
  let cpu0 = process.cpuUsage();
  let faults0 = process.resourceUsage().minorPageFault;
  for (;;) {
    const c = (await consumed.get()).values[0]?.value ?? 0;
    if (c > 0 && t0 === 0) {
      [t0, c0, cpu0, faults0] = [performance.now(), c, process.cpuUsage(), process.resourceUsage().minorPageFault];
      if (profileFile) await startProfile();
    }
    if (c >= N) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const rate = (N - c0) / ((performance.now() - t0) / 1000);
  // CPU time of this process (consumer: Kafka client, decode, rollup, Redis client) per event:
  // less sensitive than the rate to what else runs on the shared cores.
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  if (profileFile) await stopProfile(profileFile);
  console.log(`bench: speed_one_instance_consumer_cpu_us_per_event = ${((cpu.user + cpu.system) / (N - c0)).toFixed(1)}`);
  // Fresh pages cost a fault each (and the kernel's zeroing), dear on these virtual machines.
  console.log(`bench: speed_one_instance_page_faults_per_event = ${(faults / (N - c0)).toFixed(3)}`);
  const rounds = (await metrics.counter('speed_apply_rounds_total', 'registered by the consumer').get()).values[0]?.value ?? 0;
  const batches = ((await metrics.histogram('speed_batch_seconds', 'registered by the consumer').get()).values as { metricName?: string; value: number }[]).find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  console.log(`bench: speed_partition_batches_per_round = ${(batches / Math.max(1, rounds)).toFixed(2)}`);
  await consumer.stop();
  return rate;
}

interface ChildReport {
  consumed: number;
  cpuUs: number;
}

/** `instances` consumer processes in one group, as `make pipeline` runs them. */
async function consumeInChildren(t: string, dlq: string, prefix: string, instances: number): Promise<number> {
  const reports = new Map<ChildProcess, ChildReport>();
  const children = Array.from({ length: instances }, () => {
    const child = fork(new URL(import.meta.url).pathname, ['consumer-child', t, dlq, prefix], { execArgv: ['--import', 'tsx'], env: { ...process.env, BENCH_SPEED_RUN: run } });
    child.on('message', (m) => reports.set(child, m as ChildReport));
    return child;
  });
  const total = () => [...reports.values()].reduce((a, r) => ({ consumed: a.consumed + r.consumed, cpuUs: a.cpuUs + r.cpuUs }), { consumed: 0, cpuUs: 0 });
  let t0 = 0;
  let start: ChildReport = { consumed: 0, cpuUs: 0 };
  for (;;) {
    const now = total();
    // Timed once every instance has partitions (the first to join reads alone until the rebalance).
    if (t0 === 0 && reports.size === instances && [...reports.values()].every((r) => r.consumed > 0)) [t0, start] = [performance.now(), now];
    if (now.consumed >= N) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const rate = (N - start.consumed) / ((performance.now() - t0) / 1000);
  await new Promise((r) => setTimeout(r, 50));
  const end = total();
  console.log(`bench: speed_consumer_cpu_us_per_event = ${((end.cpuUs - start.cpuUs) / (N - start.consumed)).toFixed(1)}`);
  await Promise.all(children.map((c) => new Promise((r) => (c.once('exit', r), c.send('stop')))));
  return rate;
}

/** One instance of consumeInChildren: reports its consumed count and CPU time every 10 ms. */
async function consumerChild(t: string, dlq: string, prefix: string): Promise<void> {
  const metrics = new Metrics();
  const consumer = consumerFor(t, dlq, prefix, metrics);
  const consumed = metrics.counter('speed_events_consumed_total', 'registered by the consumer');
  await consumer.start();
  const cpu0 = process.cpuUsage();
  const report = async () => {
    const cpu = process.cpuUsage(cpu0);
    process.send!({ consumed: (await consumed.get()).values[0]?.value ?? 0, cpuUs: cpu.user + cpu.system } satisfies ChildReport);
  };
  const timer = setInterval(() => void report(), 10);
  await new Promise<void>((resolve) => process.on('message', (m) => m === 'stop' && resolve()));
  clearInterval(timer);
  await consumer.stop();
  process.exit(0);
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
  // Before its first event the probe site has no epoch: no coverage, no number (missing), so 0 seen.
  let seen = (await reader.totals({ site: 'probe', from: probeFrom, to: Date.now() + 120_000, metrics: ['pageviews'] })).pageviews ?? 0;
  for (let i = 0; i < Number(process.env.BENCH_SPEED_PROBES ?? 150); i++) {
    const now = Date.now();
    const probe = [...generateTraffic({ seed: 10_000 + i, sites: ['probe'], from: now - 10, to: now, events: 1, botFraction: 0 })];
    probe[0]!.type = 'pageview';
    probe[0]!.name = 'pageview';
    await post('probe', probe);
    const acked = performance.now();
    for (;;) {
      const pv = (await reader.totals({ site: 'probe', from: probeFrom, to: Date.now() + 120_000, metrics: ['pageviews'] })).pageviews ?? 0;
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
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), samples: samples.length };
}

if (process.argv[2] === 'consumer-child') await consumerChild(process.argv[3]!, process.argv[4]!, process.argv[5]!);

try {
  const dlq = await topic('dlq', 1);
  const only = process.env.BENCH_SPEED_ONLY;
  if (only !== 'freshness') await throughput(dlq);
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
