/**
 * Regression (issue 13.2): a collector started with an EVENTS_TOPIC that did not exist answered
 * 503 "kafka unreachable" forever; the broker log said the topic-partition was unknown (topics
 * were created only by `make stack-up`). Reproduced with `EVENTS_TOPIC=fresh-name twinlane ingest
 * collector` and one POST.
 *
 * Now every service creates the topics it needs (KAFKA_CREATE_TOPICS=true, the default) or, when
 * it may not, says which topic is missing: in its log, in /readyz and in the 503 it answers.
 * The collector and the speed consumer run as child processes of their real entry points.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/processes.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { loadSites } from '../core/sites.ts';
import { kafkaClient, onCleanup, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { entryArgs } from '../testing/bundles.ts';

const ROOT = resolve(import.meta.dirname, '..');
const config = testConfig();
const body = JSON.stringify([{ type: 'pageview', url: 'https://shop.example/fresh', visitor: 'v1', session: 's1' }]);

/** Fresh topic names, deleted afterwards whoever created them. */
function freshTopics(): { events: string; dlq: string } {
  const t = { events: uniqueName('test.fresh-events'), dlq: uniqueName('test.fresh-dlq') };
  onCleanup(async () => {
    const admin = kafkaClient(config).admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const ours = [t.events, t.dlq].filter((x) => existing.has(x));
      if (ours.length) await admin.deleteTopics({ topics: ours, timeout: 10_000 });
    } finally {
      await admin.disconnect();
    }
  });
  return t;
}

interface Started {
  child: ChildProcess;
  log: () => string;
}

function startEntry(entry: string, env: Record<string, string>): Started {
  const dir = tempDir('missing-topic');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const logFile = join(dir, 'logs', 'out.log');
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, entryArgs(entry), {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', DATA_DIR: dir, SITES_FILE: join(ROOT, 'config/sites.json'), ...env },
    stdio: ['ignore', out, out],
  });
  onCleanup(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
  return { child, log: () => readFileSync(logFile, 'utf8') };
}

const post = (port: number) => {
  const s = loadSites(join(ROOT, 'config/sites.json')).get('shop')!;
  return fetch(`http://127.0.0.1:${port}/v1/collect?site=${s.id}&key=${s.writeKey}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
};

async function topicExists(topic: string): Promise<{ exists: boolean; partitions: number }> {
  const admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return { exists: false, partitions: 0 };
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return { exists: true, partitions: meta.topics[0]!.partitions.length };
  } finally {
    await admin.disconnect();
  }
}

describe('a topic that does not exist (issue 13.2)', () => {
  afterAll(runCleanups, 60_000);

  it('a collector on a fresh topic name creates it and accepts events within seconds', async () => {
    const topics = freshTopics();
    const port = await freePort();
    const c = startEntry('apps/collector.main.ts', { EVENTS_TOPIC: topics.events, DLQ_TOPIC: topics.dlq, EVENTS_PARTITIONS: '2', COLLECTOR_PORT: String(port) });
    const t0 = Date.now();
    let status = 0;
    await waitUntil('a 202 from the collector', async () => {
      if (c.child.exitCode !== null) throw new Error(`collector exited: ${c.log().slice(-2000)}`);
      status = await post(port).then((r) => r.status, () => 0);
      return status === 202;
    }, 30_000, 200).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last status ${status}; log: ${c.log().slice(-2000)}`);
    });
    expect(Date.now() - t0, 'accepted within seconds of start').toBeLessThan(20_000);
    expect(await topicExists(topics.events)).toEqual({ exists: true, partitions: 2 });
    expect((await topicExists(topics.dlq)).exists).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(c.log()).toContain('kafka_topics_created');
  }, 60_000);

  it('with KAFKA_CREATE_TOPICS=false the collector names the missing topic, and becomes ready once it exists', async () => {
    const topics = freshTopics();
    const port = await freePort();
    const c = startEntry('apps/collector.main.ts', { EVENTS_TOPIC: topics.events, DLQ_TOPIC: topics.dlq, COLLECTOR_PORT: String(port), KAFKA_CREATE_TOPICS: 'false' });
    const missing = `topics ${topics.events}, ${topics.dlq} do not exist (set KAFKA_CREATE_TOPICS=true or create them)`;
    let ready = { status: 0, text: '' };
    await waitUntil('/readyz to name the missing topics', async () => {
      if (c.child.exitCode !== null) throw new Error(`collector exited: ${c.log().slice(-2000)}`);
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(async (r) => ({ status: r.status, text: await r.text() }), () => ({ status: 0, text: '' }));
      return ready.text.includes('do not exist');
    }, 30_000, 200).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last ${JSON.stringify(ready)}; log: ${c.log().slice(-2000)}`);
    });
    expect(ready).toEqual({ status: 503, text: `${missing}\n` });
    const res = await post(port);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ accepted: 0, error: { code: 'TOPIC_MISSING', message: expect.stringContaining(missing) } });
    const logged = c.log().split('\n').filter((l) => l.includes('kafka_topic_missing'));
    expect(logged.length, 'logged once, not per request').toBe(1);
    expect(logged[0]).toContain(missing);
    expect(c.log()).not.toContain('kafka_send_failed');
    expect((await topicExists(topics.events)).exists, 'nothing created').toBe(false);

    // An operator creates the topics: readiness turns green without traffic, then events are accepted.
    const admin = kafkaClient(config).admin();
    await admin.connect();
    await createTopicsWithLeaders(admin, [{ topic: topics.events, numPartitions: 1 }, { topic: topics.dlq, numPartitions: 1 }]);
    await admin.disconnect();
    await waitUntil('/readyz 200 after the topics were created', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 15_000, 250);
    await waitUntil('a 202', async () => (await post(port)).status === 202, 10_000, 250);
  }, 90_000);

  it('with KAFKA_CREATE_TOPICS=false a consumer refuses to start and says which topic is missing', async () => {
    const topics = freshTopics();
    const c = startEntry('apps/speed.main.ts', {
      EVENTS_TOPIC: topics.events,
      DLQ_TOPIC: topics.dlq,
      KAFKA_CREATE_TOPICS: 'false',
      SPEED_GROUP: uniqueName('speed'),
      SPEED_KEY_PREFIX: uniqueName('missing-topic'),
      SPEED_METRICS_PORT: String(await freePort()),
    });
    const code = await new Promise<number | null>((r) => (c.child.exitCode !== null ? r(c.child.exitCode) : c.child.once('exit', r)));
    expect(code, c.log().slice(-2000)).toBe(1);
    expect(c.log()).toContain(`topics ${topics.events}, ${topics.dlq} do not exist (set KAFKA_CREATE_TOPICS=true or create them)`);
    expect((await topicExists(topics.events)).exists).toBe(false);
  }, 60_000);
});
