/**
 * Collector benchmarks (`make bench ONLY=collector`):
 * - collector_events_per_s, collector_p50_ms, collector_p99_ms: HTTP → acknowledged by Kafka
 *   (acks=all, idempotent), 100-event JSON batches, 50 concurrent connections (autocannon),
 *   against the real collector (`twinlane ingest collector`, BENCH_COLLECTOR_PROCESSES processes,
 *   default 2) writing to a fresh 6-partition topic, no compression.
 * - collector_cpu_us_per_event: CPU time (utime + stime from /proc/<pid>/stat) of the collector's
 *   processes and of the Kafka broker per accepted event (split in collector_process_… and
 *   collector_broker_…), so a gain shows even when the shared machine is the limit.
 * - the same with one process (collector_1proc_…) and with lz4 (…_lz4): every configuration runs
 *   at once and the rounds alternate between them (A/B in the same sitting); each figure is the
 *   median of BENCH_ROUNDS rounds of BENCH_SECONDS.
 * - avro_encode_per_s / avro_decode_per_s: EventCodec.encode (validity check + Confluent
 *   framing) and decode of generated events, in this process.
 * - pipeline_events_per_s: the collector's per-event work without HTTP (validate, clock skew,
 *   enrich, encode) on JSON bytes.
 * The two cores are shared by broker, registry, collector and load generator: figures are noisy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { cpus } from 'node:os';
import type { Admin } from 'kafkajs';
import autocannon from 'autocannon';
import { createKafka } from '../core/clients.ts';
import { loadConfig } from '../core/config.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { freePort } from '../core/processes.ts';
import { createLogger } from '../core/logger.ts';
import { loadSites, plainKeys } from '../core/sites.ts';
import { collectorOptions, createEventPipeline } from '../ingest/index.ts';
import { clientContext, generateTraffic, toCollectorJson } from '../traffic/index.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { median } from './figures.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: 'warn', pretty: false }, 'bench-collector');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const run = `bench-collector-${Date.now().toString(36)}`;
const sites = loadSites(config.SITES_FILE);
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

/** Processes of the headline configuration (COLLECTOR_PROCESSES); the comparison always runs one. */
const PROCESSES = Number(process.env.BENCH_COLLECTOR_PROCESSES ?? 2);
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** utime + stime of a process, in clock ticks (0 once it is gone). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5), counted from state (3)
  } catch {
    return 0;
  }
}

/** The collector's processes: its primary and, with several processes, the workers it forked. */
function processTree(root: number): number[] {
  const children = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root;
    } catch {
      return false;
    }
  });
  return [root, ...children.map(Number)];
}

/** The local stack's Kafka broker(s), from their PID files (the cluster stack's with STACK=cluster). */
function brokerPids(): number[] {
  const dir = config.STACK === 'cluster' ? '.local/cluster/stack' : '.local/stack';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^kafka.*\.pid$/.test(f)).map((f) => Number(readFileSync(`${dir}/${f}`, 'utf8').trim())).filter((p) => Number.isInteger(p) && p > 0);
}

/** A GET on a connection of its own (the cluster's primary hands each new connection to the next worker). */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

interface Setup {
  label: string;
  processes: number;
  compression: 'none' | 'lz4';
  topic: string;
  dlq: string;
  child: ChildProcess;
  url: string;
}

async function startCollector(label: string, processes: number, compression: 'none' | 'lz4', admin: Admin): Promise<Setup> {
  const topic = `${run}.${label}`;
  const dlq = `${run}.${label}.dlq`;
  // The broker's default replication factor (3 on the cluster stack, STACK=cluster: acks=all then waits for a second replica).
  await createTopicsWithLeaders(admin, [{ topic, numPartitions: 6 }, { topic: dlq, numPartitions: 1 }]);
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/twinlane.ts', 'ingest', 'collector', '--port', String(port), '--host', '127.0.0.1', '--compression', compression], {
    // Rate limits on (each request is counted in Redis), at limits this load never reaches.
    env: { COLLECTOR_RATE_LIMIT_CLIENT: '100000000/1m', COLLECTOR_RATE_LIMIT_SITE: '100000000/1m', ...process.env, COLLECTOR_PROCESSES: String(processes), EVENTS_TOPIC: topic, DLQ_TOPIC: dlq, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  let inARow = 0;
  // Every worker ready: several answers in a row, each on a new connection (so on each worker in turn).
  while (Date.now() < deadline && inARow < 3 * processes) {
    if (child.exitCode !== null) throw new Error(`collector exited with ${child.exitCode}`);
    inARow = (await freshGet(`${url}/readyz`)) === 200 ? inARow + 1 : 0;
    if (inARow === 0) await new Promise((r) => setTimeout(r, 200));
  }
  if (inARow < 3 * processes) throw new Error('collector did not become ready within 90 s');
  return { label, processes, compression, topic, dlq, child, url };
}

async function stopCollector(setup: Setup, admin: Admin): Promise<void> {
  setup.child.kill('SIGTERM');
  if (setup.child.exitCode === null) await new Promise((r) => setup.child.once('exit', r));
  await admin.deleteTopics({ topics: [setup.topic, setup.dlq] }).catch(() => undefined);
}

interface Round {
  eventsPerS: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** CPU time per accepted event, µs: the collector's processes, the broker. */
  collectorUs: number;
  brokerUs: number;
  /** The whole machine's CPU busy share in the round, and the cores used by everything but collector, broker and load generator. */
  busyPct: number;
  otherCores: number;
}

/** The machine's busy and total CPU ticks since boot (first line of /proc/stat). */
function machineTicks(): { busy: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: all - f[3]! - f[4]!, all };
}

async function load(setup: Setup, bodies: ReturnType<typeof requestBodies>, seconds: number): Promise<Round> {
  let i = 0;
  const collectorPids = processTree(setup.child.pid!);
  const brokers = brokerPids();
  const ticks = (pids: number[]) => pids.reduce((a, p) => a + cpuTicks(p), 0);
  const before = { collector: ticks(collectorPids), broker: ticks(brokers), machine: machineTicks(), self: process.cpuUsage() };
  const result = await autocannon({
    url: setup.url,
    connections: 50,
    duration: seconds,
    requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...bodies[i++ % bodies.length]! }) }],
  });
  const events = (result.requests.total - result.non2xx) * 100;
  const us = (t: number) => (events > 0 ? (t / CLK_TCK) * 1e6 / events : 0);
  const machine = machineTicks();
  const collectorTicks = ticks(collectorPids) - before.collector;
  const brokerTicks = ticks(brokers) - before.broker;
  const self = process.cpuUsage(before.self);
  const selfTicks = ((self.user + self.system) / 1e6) * CLK_TCK;
  const elapsedTicks = (machine.all - before.machine.all) / cpus().length; // /proc/stat sums every CPU
  return {
    busyPct: (100 * (machine.busy - before.machine.busy)) / (machine.all - before.machine.all),
    otherCores: Math.max(0, machine.busy - before.machine.busy - collectorTicks - brokerTicks - selfTicks) / elapsedTicks,
    eventsPerS: events / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    collectorUs: us(collectorTicks),
    brokerUs: us(brokerTicks),
  };
}

interface Figures extends Round {
  cpuUs: number;
}

function medianOf(rounds: Round[]): Figures {
  const m = (f: (r: Round) => number) => median(rounds.map(f));
  return { eventsPerS: m((r) => r.eventsPerS), p50: m((r) => r.p50), p99: m((r) => r.p99), non2xx: rounds.reduce((a, r) => a + r.non2xx, 0), busyPct: m((r) => r.busyPct), otherCores: m((r) => r.otherCores), collectorUs: m((r) => r.collectorUs), brokerUs: m((r) => r.brokerUs), cpuUs: m((r) => r.collectorUs + r.brokerUs) };
}

/**
 * Every configuration runs at once (the idle ones cost next to nothing), and the rounds alternate
 * between them, so a change of load on the shared machine hits each configuration alike.
 */
async function collectorFigures(admin: Admin, configs: { label: string; processes: number; compression: 'none' | 'lz4' }[]): Promise<Map<string, Figures>> {
  const setups: Setup[] = [];
  try {
    for (const c of configs) setups.push(await startCollector(c.label, c.processes, c.compression, admin));
    const bodies = requestBodies();
    for (const s of setups) await load(s, bodies, 2); // warm-up: JIT, connections, metadata
    const rounds = new Map<string, Round[]>(setups.map((s) => [s.label, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of setups) {
        const round = await load(s, bodies, SECONDS);
        rounds.get(s.label)!.push(round);
        console.log(`# ${s.label} round ${r + 1}: ${Math.round(round.eventsPerS)} events/s, p99 ${round.p99} ms, CPU µs/event collector ${round.collectorUs.toFixed(1)} + broker ${round.brokerUs.toFixed(1)}; machine ${Math.round(round.busyPct)} % busy, ${round.otherCores.toFixed(2)} cores used by other work`);
      }
    }
    return new Map([...rounds].map(([label, rs]) => [label, medianOf(rs)]));
  } finally {
    for (const s of setups) await stopCollector(s, admin);
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
  const head = `${PROCESSES}p`;
  const configs = [
    { label: head, processes: PROCESSES, compression: 'none' as const },
    ...(PROCESSES === 1 ? [] : [{ label: '1p', processes: 1, compression: 'none' as const }]),
    { label: `${head}-lz4`, processes: PROCESSES, compression: 'lz4' as const },
  ];
  const figures = await collectorFigures(admin, configs);
  const none = figures.get(head)!;
  const one = figures.get('1p') ?? none;
  const lz4 = figures.get(`${head}-lz4`)!;
  // The headline figures are the collector's fastest configuration measured here (PROCESSES
  // processes, no compression); one process and lz4 are the comparisons.
  print('collector_processes', PROCESSES);
  print('collector_events_per_s', none.eventsPerS);
  print('collector_p50_ms', none.p50);
  print('collector_p99_ms', none.p99);
  // CPU time of the collector's processes and of the Kafka broker per accepted event: a gain
  // shows here even when the two shared cores are the limit.
  print('collector_cpu_us_per_event', none.cpuUs);
  print('collector_process_cpu_us_per_event', none.collectorUs);
  print('collector_broker_cpu_us_per_event', none.brokerUs);
  // How loaded the shared machine was: read the figures above in its light.
  print('collector_machine_busy_pct', none.busyPct);
  print('collector_other_work_cores', none.otherCores);
  print('collector_1proc_events_per_s', one.eventsPerS);
  print('collector_1proc_p99_ms', one.p99);
  print('collector_1proc_cpu_us_per_event', one.cpuUs);
  print('collector_events_per_s_lz4', lz4.eventsPerS);
  print('collector_p50_ms_lz4', lz4.p50);
  print('collector_p99_ms_lz4', lz4.p99);
  print('collector_lz4_cpu_us_per_event', lz4.cpuUs);
  print('collector_non2xx', [...figures.values()].reduce((a, f) => a + f.non2xx, 0));
  console.log(`# ${PROCESSES} processes vs 1: ${Math.round((none.eventsPerS / one.eventsPerS - 1) * 100)} % events/s; lz4 vs none: ${Math.round((lz4.eventsPerS / none.eventsPerS - 1) * 100)} % (median of ${ROUNDS} alternating rounds of ${SECONDS} s, 100-event batches, 50 connections)`);
} finally {
  await admin.disconnect();
}
