/**
 * `make bench ONLY=batch`: the batch job over one generated day of 10M events (lake written by
 * DuckDB SQL directly), and the archiver from Kafka to Parquet. Each measured part runs in a
 * child process so its peak RSS (VmHWM) is its own. BENCH_BATCH_EVENTS / BENCH_ARCHIVER_EVENTS
 * override the sizes; `archiver` runs only the archiver part, `generate <dir> <n>` keeps a lake for
 * repeated runs, BENCH_NODE_ARGS passes Node flags (e.g. --cpu-prof) to the measured child, and
 * BENCH_BATCH_STEPS=1 has the batch child log its day's line (wall and CPU ms per step) to stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../core/config.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { generateTraffic } from '../traffic/index.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { runBatch, LakeArchiver } from '../batch/index.ts';
import { ARCHIVER_NODE_ARGS, archiverOptions } from '../batch/index.ts';
import { openDuckDB } from '../core/duckdb.ts';
import { produceEvents } from '../batch/testing/fixtures.ts';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { randomUUID } from 'node:crypto';

const peakRssMb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const DAY = '2026-03-14';

/** A realistic day with DuckDB SQL: 20 sites, Zipf-ish pages, sessions of 5 events, 3% bots. */
async function generateLake(dataDir: string, n: number): Promise<void> {
  mkdirSync(join(dataDir, 'lake'), { recursive: true });
  const db = await openDuckDB({ memoryLimit: '2GB', threads: 2, tempDir: join(dataDir, 'gen-tmp') });
  await db.conn.run(
    `COPY (SELECT uuid()::VARCHAR AS event_id, 's' || (h % 20) AS site_id,
        CASE WHEN h % 100 < 85 THEN 'pageview' WHEN h % 100 < 97 THEN 'custom' ELSE 'purchase' END AS type,
        CASE WHEN h % 100 < 85 THEN 'pageview' WHEN h % 100 < 97 THEN 'signup' ELSE 'purchase' END AS name,
        t AS event_time, t AS received_time, 'v' || (h % 20) || '-' || ((h // 20) % 40000) AS visitor_id, 'sess-' || (i // 5) AS session_id,
        'https://x.example/' AS url, '/p/' || floor(sqrt((h // 7) % 10000))::INT AS path, 'x.example' AS hostname,
        NULL::VARCHAR AS referrer, CASE WHEN h % 3 = 0 THEN 'www.google.com' END AS referrer_host, NULL::VARCHAR AS title,
        CASE WHEN h % 7 = 0 THEN 'newsletter' END AS utm_source, NULL::VARCHAR AS utm_medium, NULL::VARCHAR AS utm_campaign, NULL::VARCHAR AS utm_term, NULL::VARCHAR AS utm_content,
        ['US','DE','FR','GB','IN'][1 + h % 5] AS country, ['desktop','mobile','tablet'][1 + h % 3] AS device_type, ['Chrome','Safari','Firefox'][1 + h % 3] AS browser, ['Windows','iOS','Linux'][1 + h % 3] AS os,
        h % 100 < 3 AS is_bot, NULL::VARCHAR AS ip_hash, false AS time_adjusted, MAP {}::MAP(VARCHAR, VARCHAR) AS properties,
        CASE WHEN h % 100 >= 97 THEN 1000000 * (1 + h % 50) END::BIGINT AS revenue_micros, 'EUR' AS currency, 1440 AS screen_width,
        strftime(t, '%Y-%m-%d') AS dt, strftime(t, '%H') AS hour
      FROM (SELECT i, (hash(i // 5) % 1000000007)::BIGINT AS h, TIMESTAMP '${DAY}' + to_milliseconds((i * (86400000 // CAST($n AS BIGINT)))::BIGINT) AS t FROM range(CAST($n AS BIGINT)) r(i)))
     TO $out (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt, hour))`,
    { n: BigInt(n), out: join(dataDir, 'lake/events') },
  );
  db.close();
}

async function batchChild(dataDir: string): Promise<void> {
  const t0 = performance.now();
  const logger = process.env.BENCH_BATCH_STEPS ? pino({ level: 'info' }, pino.destination(2)) : undefined;
  const record = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '2GB', threads: 2 } }, ...(logger ? { logger } : {}) }, { dates: [DAY] });
  const s = (performance.now() - t0) / 1000;
  if (record.status !== 'ok') throw new Error(record.errors.join('; '));
  report(s);
}

async function archiverChild(topic: string, n: number, dataDir: string): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const kafka = new Kafka({ clientId: 'bench', brokers: config.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
  const metrics = new Metrics('b_');
  const logger = silentLogger();
  const archiver = new LakeArchiver(
    { kafka, codec: new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic), deadLetters: new DeadLetterWriter({ kafka, topic: config.DLQ_TOPIC, logger, metrics }), logger, metrics },
    { ...archiverOptions(config), topic, groupId: `bench-${randomUUID()}`, dataDir },
  );
  const value = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  const t0 = performance.now();
  await archiver.start();
  // Deployed roll settings (rolls by size during the run); once every event is in the lake or
  // spooled, stop() rolls the rest: timed until all n are durable and committed.
  while ((await value('b_lake_events_total')) + (await value('b_lake_buffered_rows')) < n) await new Promise((r) => setTimeout(r, 20));
  await archiver.stop();
  const s = (performance.now() - t0) / 1000;
  const archived = await value('b_lake_events_total');
  if (archived !== n) throw new Error(`archived ${archived} events of ${n}`);
  report(s);
}

/**
 * What a child reports: its time, peak RSS, and the CPU (user, system) and minor page faults of
 * the whole process, DuckDB's threads included: steadier than the time on shared cores, and faults
 * are costly on these virtual machines (batch/README.md, Measured).
 */
interface ChildResult {
  seconds: number;
  rss: number;
  userS: number;
  sysS: number;
  faults: number;
}

function report(seconds: number): void {
  const usage = process.resourceUsage();
  console.log(JSON.stringify({ seconds, rss: peakRssMb(), userS: usage.userCPUTime / 1e6, sysS: usage.systemCPUTime / 1e6, faults: usage.minorPageFault } satisfies ChildResult));
}

function child(args: string[], nodeArgs: readonly string[] = []): ChildResult {
  const r = spawnSync(process.execPath, [...nodeArgs, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', 'bench/batch.bench.ts', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`bench child ${args[0]} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'batch-child') return batchChild(rest[0]!);
  if (mode === 'archiver-child') return archiverChild(rest[0]!, Number(rest[1]), rest[2]!);
  if (mode === 'generate') return generateLake(rest[0]!, Number(rest[1]));
  if (mode !== 'archiver') await benchBatch();
  await benchArchiver();
}

async function benchBatch(): Promise<void> {
  const batchEvents = Number(process.env.BENCH_BATCH_EVENTS ?? 10_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-bench-batch-'));
  try {
    await generateLake(dir, batchEvents);
    // The nightly job reads a lake written over the day, long on disk: the kernel's write-back of
    // the lake just generated is not the job's work, so it is finished before the clock starts.
    spawnSync('sync');
    const b = child(['batch-child', dir]);
    console.log(`bench: batch_day_10m_s = ${b.seconds.toFixed(2)}`);
    console.log(`bench: batch_rows_per_s = ${Math.round(batchEvents / b.seconds)}`);
    console.log(`bench: batch_peak_rss_mb = ${Math.round(b.rss)}`);
    console.log(`bench: batch_user_cpu_s = ${b.userS.toFixed(1)}`);
    console.log(`bench: batch_sys_cpu_s = ${b.sysS.toFixed(1)}`);
    console.log(`bench: batch_page_faults = ${b.faults}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchArchiver(): Promise<void> {
  const n = Number(process.env.BENCH_ARCHIVER_EVENTS ?? 1_000_000);
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const kafka = new Kafka({ clientId: 'bench', brokers: config.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
  const topic = `bench.lake-${randomUUID().slice(0, 8)}`;
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsWithLeaders(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
  const lakeDir = mkdtempSync(join(tmpdir(), 'twinlane-bench-lake-'));
  try {
    const from = Date.UTC(2026, 2, 14);
    await produceEvents(kafka, new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic), topic, generateTraffic({ seed: 1, sites: ['a', 'b', 'c', 'd'], from, to: from + 86_400_000, events: n }));
    const a = child(['archiver-child', topic, String(n), lakeDir], ARCHIVER_NODE_ARGS);
    console.log(`bench: archiver_events_per_s = ${Math.round(n / a.seconds)}`);
    console.log(`bench: archiver_peak_rss_mb = ${Math.round(a.rss)}`);
  } finally {
    rmSync(lakeDir, { recursive: true, force: true });
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

await main();
