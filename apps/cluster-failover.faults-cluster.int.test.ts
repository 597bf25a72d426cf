/**
 * Issue 20.3: Twinlane on the cluster stack (three KRaft brokers, replication factor 3 with
 * min.insync.replicas 2, a Redis Cluster of three masters and three replicas) loses nothing when a
 * node dies. Under steady traffic (chunks until the last outage is over): SIGKILL one of two speed
 * consumers and one of two lake archivers at once (two groups, each measured on its own); while
 * they restart, the broker leading the most partitions of the events topic; while it comes back,
 * the Redis master of a site's slot. Killed nodes come back with `stack up --cluster` (a Redis master rejoins as a
 * replica), killed services are restarted once the survivor took over. After catch-up and one batch
 * run: every event the collector answered 202 is served (yesterday exactly from batch, today from
 * speed with exact counts), and the lake holds every accepted event exactly once.
 *
 * Kept short: the services start two at a time, restarts overlap the next kill (a broker's the Redis
 * outage, Kafka's and Redis' parts of `stack up` apart) and the final catch-up and batch run,
 * traffic lasts as long as the kills.
 *
 * Printed per kill: the collector's 503s (and network failures) during it, first to last, and how
 * long until the consumers had applied everything accepted up to a second after the kill ("fresh").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { redisClientOf } from '../core/clients.ts';
import { num, openDuckDB, type DuckDB } from '../core/duckdb.ts';
import { parseLakeFileName } from '../batch/index.ts';
import { freePort, isAlive, sleep } from '../core/processes.ts';
import { isCluster } from '../core/redis-client.ts';
import { brokerRunning, clusterLayout, clusterPaths, clusterUp, redisNodeRunning, startKafkaCluster, startRedisCluster } from '../stack/index.ts';
import { kafkaClient, runCleanups, waitUntil } from '../testing/helpers.ts';
import { PipelineHarness, TRUTH_METRICS, expectBucketsEqualTruth, truthSeries } from '../testing/pipeline.harness.ts';
import type { LoadSummary } from '../traffic/index.ts';
import { answersHttp } from './index.ts';
import { entryArgs } from '../testing/bundles.ts';

function sum<T>(xs: readonly T[], f: (x: T) => number): number {
  return xs.reduce((a, x) => a + f(x), 0);
}

const ROOT = resolve(import.meta.dirname, '..');
const DAY = 86_400_000;
/** Traffic goes in chunks (seeds 2020, 2021, …) until the last outage is over, however slow the machine. */
const CHUNK = 800;
const RATE = 200;

interface Outage {
  what: string;
  at: number;
  /** Retried collector answers while it lasted: 503s, and network failures (status 0). */
  unavailable: number;
  unavailableMs: number;
  freshAfterMs: number;
}

describe('the pipeline on the cluster stack survives the loss of any one node (issue 20)', () => {
  let h: PipelineHarness;
  const extras = new Map<string, ChildProcess>();
  const retried: { status: number; at: number }[] = [];
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;

  beforeAll(async () => {
    const t0 = Date.now();
    // Services, helpers and the harness read the cluster stack's addresses (.local/cluster/stack.env).
    process.env.STACK = 'cluster';
    await clusterUp(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), () => undefined);
    console.log(`cluster stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The consumers' default session timeouts (the harness shortens the speed one for other tests).
    h = await PipelineHarness.create({ SPEED_SESSION_TIMEOUT: '10s' });
    expect(h.config.REDIS_CLUSTER_NODES.length).toBe(6);
    expect(h.config.KAFKA_BROKERS.length).toBe(3);
    await preferredLeaders();
    const s0 = Date.now();
    // Two at a time: one loads its modules (a few CPU seconds each) while the other waits on the
    // brokers and its group; six at once on two cores starve each other past the harness's minute.
    await Promise.all([h.start('collector'), h.start('speed')]);
    await Promise.all([h.start('lake-archiver'), h.start('serving')]);
    await Promise.all([startSecond('speed', 'SPEED_METRICS_PORT'), startSecond('lake-archiver', 'LAKE_METRICS_PORT')]);
    console.log(`services answer after ${((Date.now() - s0) / 1000).toFixed(1)} s`);
  }, 240_000);

  afterAll(async () => {
    for (const c of extras.values()) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
    await h?.stop();
    if (process.env.TWINLANE_TEST_KEEP_LOGS && h) cpSync(join(h.dir, 'logs'), process.env.TWINLANE_TEST_KEEP_LOGS, { recursive: true });
    await runCleanups();
  }, 60_000);

  /** A second instance of a consumer (one group), as deployed: it takes over a killed one's partitions. */
  async function startSecond(name: 'speed' | 'lake-archiver', portVar: string): Promise<void> {
    const port = await freePort();
    const logs = join(h.dir, 'logs');
    mkdirSync(logs, { recursive: true });
    const out = openSync(join(logs, `${name}-2.log`), 'a');
    const entry = name === 'speed' ? 'apps/speed.main.ts' : 'apps/lake-archiver.main.ts';
    const child = spawn(process.execPath, entryArgs(entry), { cwd: ROOT, env: { ...process.env, ...h.env, [portVar]: String(port) }, stdio: ['ignore', out, out] });
    extras.set(name, child);
    await waitUntil(`${name} (second instance) to answer`, () => answersHttp(port), 60_000, 200);
  }

  /**
   * Waits until every partition of the events topic and of the group coordinators' topic is led by
   * its preferred broker. A broker restarted by an earlier run takes its leaders back up to
   * `leader.imbalance.check.interval.seconds` later; a coordinator moving then restarts every
   * member's session timer, and a kill measured across it took a session timeout longer.
   */
  async function preferredLeaders(): Promise<void> {
    const t0 = Date.now();
    await waitUntil('partition leaders back on their preferred brokers', () =>
      withAdmin(async (admin) => {
        const md = await admin.fetchTopicMetadata({ topics: [h.config.EVENTS_TOPIC, '__consumer_offsets'] });
        return md.topics.every((t) => t.partitions.every((p) => p.leader === p.replicas[0]));
      }), 90_000, 500);
    if (Date.now() - t0 > 1_000) console.log(`leaders back on their preferred brokers after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  /** The broker that leads the most partitions of the events topic, and its PID. */
  async function busiestBroker(): Promise<{ id: number; pid: number; leads: number }> {
    return withAdmin(async (admin) => {
      const md = await admin.fetchTopicMetadata({ topics: [h.config.EVENTS_TOPIC] });
      const leads = new Map<number, number>();
      for (const p of md.topics[0]!.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
      const [id, n] = [...leads].sort((a, b) => b[1] - a[1])[0]!;
      return { id, pid: brokerRunning(clusterPaths(ROOT), id)!, leads: n };
    });
  }

  /** The Redis master serving the first site's slot (its speed keys), and its PID. */
  async function siteMaster(site: string): Promise<{ port: number; pid: number }> {
    const redis = redisClientOf(h.config);
    try {
      const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', `{${site}}`));
      if (!isCluster(redis)) throw new Error('expected a Redis Cluster client');
      await waitUntil('the cluster client to know the slots', () => redis.slots.length > 0, 10_000);
      const port = Number(redis.slots[slot]![0]!.split(':')[1]);
      return { port, pid: redisNodeRunning(clusterPaths(ROOT), port)! };
    } finally {
      redis.disconnect();
    }
  }

  /** An admin call that outlasts a dead broker (the bootstrap list names it too): tried again for up to 30 s. */
  async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const admin = kafkaClient(h.config).admin();
      try {
        await admin.connect();
        return await fn(admin);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(250);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
  }

  /** Ends of every partition of the events topic (what the collector had accepted by now). */
  function topicEnds(): Promise<Map<number, bigint>> {
    return withAdmin(async (admin) => new Map((await admin.fetchTopicOffsets(h.config.EVENTS_TOPIC)).map((p) => [p.partition, BigInt(p.high)])));
  }

  /** Ms from `since` until `groups` committed past `ends` on every partition (consumers commit only what they applied). */
  async function freshAfter(since: number, ends: Map<number, bigint>, groups: string[]): Promise<number> {
    await waitUntil('the consumers to apply what was accepted before the kill', () =>
      withAdmin(async (admin) => {
        for (const groupId of groups) {
          const [t] = await admin.fetchOffsets({ groupId, topics: [h.config.EVENTS_TOPIC] });
          const done = new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
          for (const [p, end] of ends) if ((done.get(p) ?? -1n) < end) return false;
        }
        return true;
      }).catch(() => false), 120_000, 250);
    return Date.now() - since;
  }

  async function sigkill(pid: number): Promise<void> {
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(20);
  }

  /**
   * Kills (several at once when given several), then measures per victim how long until the groups
   * it serves are fresh; the caller brings the victims back, in the background where that is safe.
   */
  async function outages(victims: { what: string; kill: () => Promise<void>; groups: string[] }[]): Promise<Outage[]> {
    const at = Date.now();
    await Promise.all(victims.map((v) => v.kill()));
    await sleep(1_000);
    const ends = await topicEnds();
    return Promise.all(
      victims.map(async ({ what, groups }) => {
        const freshAfterMs = await freshAfter(at, ends, groups);
        const during = retried.filter((r) => r.at >= at && r.at <= at + freshAfterMs + 5_000);
        const unavailableMs = during.length ? during[during.length - 1]!.at - during[0]!.at : 0;
        console.log(`${what}: ${during.length} collector answers retried (503 or network) over ${(unavailableMs / 1000).toFixed(1)} s; fresh again after ${(freshAfterMs / 1000).toFixed(1)} s (killed at ${new Date(at).toISOString()})`);
        return { what, at, unavailable: during.length, unavailableMs, freshAfterMs };
      }),
    );
  }

  /**
   * Whether the lake files' offset ranges (in their names) tile each partition from 0 to its end,
   * each range's rows equal to its length: every Kafka record once. Returns the records and what is off.
   */
  async function lakeTiles(conn: DuckDB['conn'], ends: Map<number, bigint>): Promise<{ records: number; problems: string[] }> {
    const files = (await conn.runAndReadAll(`SELECT filename AS f, count(*) AS n FROM read_parquet($g, filename = true) GROUP BY 1`, { g: join(h.dir, 'lake/events/*/*/*.parquet') })).getRowObjectsJS();
    const rows = new Map<string, number>(); // "p:first:last" → rows (a roll writes one file per hour of a range)
    for (const r of files) {
      const name = parseLakeFileName(String(r.f).slice(String(r.f).lastIndexOf('/') + 1).replace(/~\d+\.parquet$/, '.parquet'));
      if (!name) throw new Error(`not an archiver file: ${String(r.f)}`);
      const k = `${name.partition}:${name.first}:${name.last}`;
      rows.set(k, (rows.get(k) ?? 0) + num(r.n));
    }
    const problems: string[] = [];
    let records = 0;
    for (const [p, end] of ends) {
      records += Number(end);
      const ranges = [...rows].map(([k, n]) => ({ k: k.split(':').map(Number) as [number, number, number], n })).filter((r) => r.k[0] === p).sort((a, b) => a.k[1] - b.k[1]);
      let next = 0;
      for (const { k: [, first, last], n } of ranges) {
        if (first !== next) problems.push(`partition ${p}: ${first < next ? `offsets ${first}..${next - 1} twice` : `offsets ${next}..${first - 1} missing`}`);
        if (n !== last - first + 1) problems.push(`partition ${p}: range ${first}-${last} holds ${n} rows`);
        next = Math.max(next, last + 1);
      }
      if (next !== Number(end)) problems.push(`partition ${p}: lake through ${next - 1}, topic ends at ${end}`);
    }
    return { records, problems };
  }

  /**
   * Starts a service again and again, as a process manager would, while it exits at start-up
   * (a restart that meets the broker kill of the next phase fails to connect, and says so).
   */
  async function startSupervised(n: Parameters<PipelineHarness['start']>[0], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await h.start(n, Math.max(5_000, deadline - Date.now()));
      } catch (err) {
        if (Date.now() >= deadline || !/exited with/.test((err as Error).message)) throw err;
        h.children.delete(n);
        await sleep(1_000);
      }
    }
  }

  /** A service that exited on its own is started again, as a process manager would. */
  async function restartExited(): Promise<void> {
    for (const [n, c] of [...h.children.entries()]) {
      if (c.exitCode === null && c.signalCode === null) continue;
      h.children.delete(n);
      await h.start(n);
    }
  }

  it('SIGKILL of a broker, a Redis master, a speed consumer and a lake archiver loses and doubles nothing', async () => {
    const t0 = Date.now();
    const both = [h.config.SPEED_GROUP, h.config.LAKE_GROUP];
    let sending = true;
    const sent: LoadSummary[] = [];
    const traffic = (async () => {
      for (let chunk = 0; sending; chunk++) {
        sent.push(await h.send({ seed: 2020 + chunk, events: CHUNK, rate: RATE, concurrency: 4, batchSize: 25, from: today - DAY, to: Math.max(today + 60_000, now - 60_000), onRetry: (status, at) => void retried.push({ status, at }) }));
      }
    })();
    // Killed nodes come back as `stack up --cluster` brings them, Kafka's and Redis' parts apart, so
    // that the broker's restart (a JVM: the longest step) overlaps the Redis outage without the
    // Redis part restarting the killed master before its replica took over.
    const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
    const layout = clusterLayout(config);
    const paths = clusterPaths(ROOT);
    const kafkaUp = () => startKafkaCluster(paths, { ports: layout.kafkaPorts, controllerPorts: layout.controllerPorts, heap: config.CLUSTER_KAFKA_HEAP }, () => undefined);
    const redisUp = () => startRedisCluster(paths, { ports: layout.redisPorts, nodeTimeoutMs: config.CLUSTER_REDIS_NODE_TIMEOUT, maxmemory: config.REDIS_MAXMEMORY }, () => undefined);
    await sleep(3_000);

    const all: Outage[] = [];
    // First a speed consumer and a lake archiver at once, with every broker up and its leaders in
    // place (a restarted broker takes its leaders back about 30 s later, which moves group
    // coordinators too): two groups, each fresh on its own. They restart in the background.
    all.push(
      ...(await outages([
        { what: 'a speed consumer (of two)', kill: () => h.kill('speed'), groups: [h.config.SPEED_GROUP] },
        { what: 'a lake archiver (of two)', kill: () => h.kill('lake-archiver'), groups: [h.config.LAKE_GROUP] },
      ])),
    );
    const consumersBack = Promise.all([startSupervised('speed', 150_000), startSupervised('lake-archiver', 150_000)]);
    consumersBack.catch(() => undefined); // awaited below
    const broker = await busiestBroker();
    all.push(...(await outages([{ what: `kafka broker ${broker.id} (leader of ${broker.leads} partitions)`, kill: () => sigkill(broker.pid), groups: both }])));
    const brokerBack = kafkaUp();
    brokerBack.catch(() => undefined); // awaited below
    const site = h.sites()[0]!.id;
    const master = await siteMaster(site);
    all.push(...(await outages([{ what: `redis master 127.0.0.1:${master.port} (slot of {${site}})`, kill: () => sigkill(master.pid), groups: both }])));
    sending = false;
    // The killed nodes and consumers come back while the groups catch up and the batch runs (on a
    // busy machine a start takes a while); the checks wait for them.
    const restarted = Promise.all([consumersBack, brokerBack, redisUp()]);
    restarted.catch(() => undefined); // awaited below
    await traffic;
    await restartExited();
    const summary = { accepted: sum(sent, (s) => s.accepted), events: sum(sent, (s) => s.events), failed: sum(sent, (s) => s.failed), retries: sum(sent, (s) => s.retries), elapsedMs: Date.now() - t0 };
    console.log(`traffic: ${summary.accepted} of ${summary.events} accepted in ${sent.length} chunks over ${(summary.elapsedMs / 1000).toFixed(1)} s, ${summary.retries} retries`);
    expect(summary.failed).toBe(0);
    expect(summary.accepted).toBe(summary.events);
    const EVENTS = summary.events;

    await h.waitCaughtUp(undefined, 120_000);
    let lakeRows = { rows: 0, distinct: 0 };
    let tiles: { records: number; problems: string[] } = { records: 0, problems: [] };
    const lake = await openDuckDB({ memoryLimit: '512MB', threads: 1, tempDir: join(h.dir, 'check') });
    try {
      const r = (await lake.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM read_parquet($g)`, { g: join(h.dir, 'lake/events/*/*/*.parquet') })).getRowObjectsJS()[0]!;
      lakeRows = { rows: num(r.n), distinct: num(r.d) };
      tiles = await lakeTiles(lake.conn, await topicEnds());
      console.log(`lake after catch-up: ${lakeRows.rows} rows of ${tiles.records} Kafka records, ${lakeRows.distinct} distinct event ids (accepted ${EVENTS}; ${tiles.records - EVENTS} written twice by retried sends)`);
      tiles = await lakeTiles(lake.conn, await topicEnds());
    } finally {
      lake.close();
    }
    const run = await h.runBatch();
    expect(run.status).toBe('succeeded');
    await restarted;

    const truth = h.truth();
    expect(truth.length).toBe(EVENTS);
    const metrics = [...TRUTH_METRICS];
    for (const s of h.sites().map((x) => x.id)) {
      const past = await h.series(s, today - DAY, today, 'hour', metrics);
      expect(past.every((r) => r.source === 'batch')).toBe(true);
      expectBucketsEqualTruth(past, truthSeries(truth, { site: s, grain: 'hour', from: today - DAY, to: today }), s, metrics);
      const until = Date.now();
      const current = await h.series(s, today, until, 'hour', metrics);
      expect(current.every((r) => r.source === 'speed')).toBe(true);
      expectBucketsEqualTruth(current, truthSeries(truth, { site: s, grain: 'hour', from: today, to: until }), s, metrics, ['visitors', 'sessions']);
    }
    console.log(`faults-cluster: ${((Date.now() - t0) / 1000).toFixed(1)} s from first event to checked truth`);
    for (const o of all) if (o.what.includes('consumer') || o.what.includes('archiver')) expect(o.freshAfterMs, o.what).toBeLessThan(20_000);
    // The lake holds each Kafka record exactly once: its files' offset ranges tile every partition,
    // none twice (an archiver that lost a partition during a roll never places it beside its new
    // owner's files: partition leases, batch/lake.lease.ts), and every accepted event is there. An
    // event id twice in the lake is one Kafka holds twice: a request answered 503 whose send was
    // written all the same, retried (batch and speed deduplicate by event id).
    expect(tiles.problems).toEqual([]);
    expect(lakeRows.rows).toBe(tiles.records);
    expect(lakeRows.distinct).toBe(EVENTS);
  }, 420_000);
});
