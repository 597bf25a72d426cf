/**
 * Acceptance: a speed consumer killed with SIGKILL at random moments while a stream flows,
 * then restarted, ends with exactly the page views, events, purchases and revenue that were
 * sent, per minute: no fewer (offsets are committed only after Redis has the batch) and no
 * more (each site's batch is applied with its offset record in one Lua step, so a redelivered
 * batch is skipped). The consumer runs as a child process against the real broker, Redis and
 * schema registry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/processes.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, testRedis, uniqueName, waitUntil } from '../testing/helpers.ts';
import { SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { traffic } from './testing/speed.fixture.ts';
import type { Metric } from '../core/views.ts';
import { pickMetrics, truthSeries } from '../testing/truth.ts';
import { entryArgs } from '../testing/bundles.ts';

const MAIN = fileURLToPath(new URL('../apps/speed.main.ts', import.meta.url));
const KILLS = 5;

describe('speed consumer killed with SIGKILL mid-stream', () => {
  afterAll(runCleanups);

  it('ends with exact per-minute counts after 5 kills and restarts', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'speed-kill', 3);
    const dlq = await createTopic(config, 'speed-kill-dlq', 1);
    const { redis, prefix } = testRedis(config);
    const keyPrefix = prefix + 'speed';
    const codec = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic);
    await codec.init();
    const metricsPort = await freePort();
    const alreadyApplied = async () => {
      let text = '';
      // The metrics server starts after the consumer has joined: give it a moment.
      await waitUntil('the child\'s /metrics', async () => {
        text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
        return text !== '';
      }, 20_000, 50);
      return Number(/twinlane_speed_events_skipped_total\{reason="already_applied"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const env = {
      ...process.env,
      EVENTS_TOPIC: topic,
      DLQ_TOPIC: dlq,
      SPEED_GROUP: uniqueName('speed-kill'),
      SPEED_KEY_PREFIX: keyPrefix,
      // Its own DATA_DIR (no batch watermark), not whatever ./data holds; the entry point marks its format.
      DATA_DIR: tempDir('speed-kill'),
      SPEED_METRICS_PORT: String(metricsPort),
      SPEED_SESSION_TIMEOUT: '6s',
      // Lazy commits make every kill land after Redis applied batches Kafka has not committed.
      SPEED_COMMIT_INTERVAL: '5s',
      SCHEMA_REGISTRY_URL: config.SCHEMA_REGISTRY_URL,
      REDIS_URL: config.REDIS_URL,
      KAFKA_BROKERS: config.KAFKA_BROKERS.join(','),
      LOG_LEVEL: 'warn',
    };
    let child: ChildProcess | undefined;
    let log = '';
    const startChild = () => {
      child = spawn(process.execPath, entryArgs(MAIN), { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    };
    onCleanupKill(() => child);

    const events = traffic({ events: 50_000, seed: 7 });
    const producer = kafkaClient(config).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    let sent = 0;
    const send = async (n: number) => {
      const chunk = events.slice(sent, sent + n);
      await producer.send({ topic, acks: -1, messages: chunk.map((e) => ({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) })) });
      sent += chunk.length;
    };
    // Sum of applied offsets across sites and partitions: moves only while the child applies batches.
    const progress = async () => {
      let s = 0;
      for (const site of ['alpha', 'beta', 'gamma']) {
        for (const v of Object.values(await redis.hgetall(new SpeedKeys(keyPrefix).site(site).offsets))) s += Number(v);
      }
      return s;
    };

    // The stream flows steadily the whole time: kills land between a Redis write and the next
    // Kafka commit (offsets are committed every 5 s here), so restarts replay batches.
    let killing = true;
    const flowing = (async () => {
      while (killing && sent < events.length - 1_000) {
        await send(100);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let replayed = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      startChild();
      const before = await progress();
      await waitUntil(`consumer ${kill + 1} applying (log: ${log.slice(-500)})`, async () => (await progress()) > before, 60_000, 50);
      await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1_500)));
      replayed += await alreadyApplied();
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    killing = false;
    await flowing;
    await send(events.length - sent);
    await producer.disconnect();
    expect(sent).toBe(events.length);

    startChild();
    const reader = new SpeedReader({ redis, keys: new SpeedKeys(keyPrefix), ttlMs: config.SPEED_TTL });
    const from = Math.floor(Math.min(...events.map((e) => e.event_time)) / 60_000) * 60_000;
    const to = Date.now() + 60_000;
    const sites = [...new Set(events.map((e) => e.site_id))];
    const expectedEvents = events.filter((e) => !e.is_bot && e.type === 'custom').length;
    const totalEvents = async () => {
      let n = 0;
      for (const site of sites) n += (await reader.totals({ site, from, to, metrics: ['events'] })).events!;
      return n;
    };
    await waitUntil('the last consumer to catch up', async () => (await totalEvents()) >= expectedEvents, 90_000, 250);
    await new Promise((r) => setTimeout(r, 1_000)); // anything applied twice would show up now
    replayed += await alreadyApplied();
    child!.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));

    const counters: Metric[] = ['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'];
    let minutes = 0;
    for (const site of sites) {
      const perMinute = truthSeries(events, { site, grain: 'minute', from, to });
      const points = await reader.series({ site, from, to, grain: 'minute', metrics: counters });
      for (const p of points) expect(p.values, `${site} ${new Date(p.start).toISOString()}`).toEqual(pickMetrics(perMinute.get(p.start)!, counters));
      minutes += points.length;
    }
    expect(minutes).toBeGreaterThan(150);
    expect(replayed, 'restarts replayed batches that Redis already had').toBeGreaterThan(0);
  });
});

function onCleanupKill(get: () => ChildProcess | undefined): void {
  afterAll(() => {
    const c = get();
    if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}
