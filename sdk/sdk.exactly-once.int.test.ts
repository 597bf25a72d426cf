/**
 * Acceptance of the server SDK (issue 13, item 5): events sent with TwinlaneClient through a
 * proxy that makes the collector look unavailable (503, Retry-After: 1) for its first 10 s, and
 * then loses the answer of one request the collector did acknowledge (the client's socket is
 * destroyed after the collector's 202), so the SDK resends a batch that already landed. The real
 * collector, Kafka, registry, lake archiver and batch job follow. For every event id the SDK
 * returned: the lake holds it (twice for the resent batch, so the dedupe, not luck, makes it
 * once), the day's `events` view holds it exactly once, and the view totals count it once.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchReader, LakeArchiver, ViewsStore, formatDay, runBatch } from '../batch/index.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { parseSites } from '../core/sites.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { startTestCollector } from '../ingest/testing/collector.fixture.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { kafkaClient, onCleanup, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { TwinlaneClient, type EventType, type TwinlaneSdkError } from './index.ts';

const EVENTS = 400;
const BATCH = 50;
const UNAVAILABLE_MS = 10_000;
const SITE = { id: 'shop', writeKey: 'wk_shop_secret', readKey: 'rk_shop_secret', allowedOrigins: ['*'] };
const DAY_MS = 86_400_000;

interface FlakyProxy {
  url: string;
  /** Requests answered 503 by the proxy itself. */
  refused: number;
  /** The request whose answer was lost: how many events it carried and what the collector said. */
  lost: { events: number; status: number } | undefined;
  forwarded: number;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** 503 for `unavailableMs`; then one request forwarded, acknowledged by the collector, and its client socket destroyed; then a plain proxy. */
async function startFlakyProxy(collectorUrl: string, unavailableMs: number): Promise<FlakyProxy> {
  const state: FlakyProxy = { url: '', refused: 0, lost: undefined, forwarded: 0 };
  const unavailableUntil = Date.now() + unavailableMs;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (Date.now() < unavailableUntil) {
        state.refused++;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: { code: 'KAFKA_UNAVAILABLE', message: 'proxy: collector unavailable' } }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'content-encoding', 'user-agent', 'x-twinlane-site', 'x-twinlane-key']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const answer = await fetch(new URL(req.url ?? '/', collectorUrl), { method: 'POST', headers, body: new Uint8Array(body) });
      const text = await answer.text();
      if (!state.lost) {
        // The collector has the events (Kafka acknowledged them); the client never hears it.
        state.lost = { events: (JSON.parse(body.toString('utf8')) as unknown[]).length, status: answer.status };
        req.socket.destroy();
        return;
      }
      state.forwarded++;
      const out: Record<string, string> = { 'content-type': answer.headers.get('content-type') ?? 'application/json' };
      const retryAfter = answer.headers.get('retry-after');
      if (retryAfter) out['retry-after'] = retryAfter;
      res.writeHead(answer.status, out).end(text);
    })().catch(() => req.socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return state;
}

describe('server SDK → flaky collector → Kafka → lake → batch: exactly once', () => {
  afterAll(runCleanups, 60_000);

  it('counts every event once after 10 s of 503 and a resent batch that had landed', async () => {
    const started = Date.now();
    const config = testConfig();
    const logger = silentLogger();
    // The real collector (ingest's test kit: port 0, UUID-named topics, the real registry).
    const { collector, eventsTopic, dlqTopic } = await startTestCollector(config, { sites: parseSites({ sites: [SITE] }) });

    // The real lake archiver; it joins its group while the proxy still answers 503.
    const dataDir = tempDir('sdk-exactly-once');
    const kafka = kafkaClient(config);
    const metrics = new Metrics('sdk_');
    const deadLetters = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics });
    await deadLetters.start();
    onCleanup(() => deadLetters.stop());
    let fatal: unknown;
    const lakeGroup = uniqueName('lake');
    const archiver = new LakeArchiver(
      { kafka, codec: new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), eventsTopic), deadLetters, logger, metrics, onFatal: (err) => (fatal ??= err) },
      { topic: eventsTopic, groupId: lakeGroup, dataDir, rollRows: 10_000, rollAgeMs: 300, duckdb: { memoryLimit: '256MB', threads: 1 }, tickMs: 100, sessionTimeoutMs: 10_000 },
    );
    await archiver.start();
    onCleanup(() => archiver.stop());

    const proxy = await startFlakyProxy(collector.url, UNAVAILABLE_MS);
    const errors: TwinlaneSdkError[] = [];
    const client = new TwinlaneClient({
      endpoint: proxy.url,
      site: SITE.id,
      writeKey: SITE.writeKey,
      batchSize: BATCH,
      flushIntervalMs: 200,
      // 10 s of Retry-After: 1 takes about 10 attempts; then one lost answer.
      retry: { maxAttempts: 30, initialDelayMs: 100, maxDelayMs: 2_000 },
      shutdownTimeoutMs: 30_000,
      onError: (e) => errors.push(e),
    });
    client.start();

    // Yesterday, so the batch covers one complete day whatever the time of the run.
    const day = formatDay(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS);
    const noon = Date.parse(`${day}T12:00:00Z`);
    const expected = new Map<string, { type: EventType; page: string }>();
    for (let i = 0; i < EVENTS; i++) {
      const page = `/e/${i}`;
      const context = { url: `https://shop.example${page}`, visitor: `visitor-${i % 37}`, session: `session-${i % 53}`, timestamp: noon + i * 1_000 };
      const kind = i % 10;
      if (kind < 6) expected.set(client.pageview(context), { type: 'pageview', page });
      else if (kind < 9) expected.set(client.track('add_to_cart', { ...context, props: { sku: `A${i % 5}` } }), { type: 'custom', page });
      else expected.set(client.purchase(12.5, 'EUR', context), { type: 'purchase', page });
    }
    expect(expected.size).toBe(EVENTS);
    await client.stop();
    const sent = Date.now();

    expect(errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
    expect(client.stats()).toMatchObject({ queued: 0, inFlight: 0, accepted: EVENTS, rejected: 0, failed: 0, dropped: 0 });
    expect(client.stats().retries).toBeGreaterThanOrEqual(proxy.refused + 1);
    expect(proxy.refused).toBeGreaterThanOrEqual(8); // about one per second for 10 s
    expect(proxy.lost).toMatchObject({ status: 202 });
    const resent = proxy.lost!.events;
    expect(resent).toBeGreaterThan(0);

    // The archiver commits only after the Parquet files are durable: committed = end offsets means all of it is in the lake.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(eventsTopic);
      expect(ends.reduce((n, p) => n + Number(p.high), 0)).toBe(EVENTS + resent);
      await waitUntil('the lake archiver at the end of the topic', async () => {
        if (fatal) throw new Error(`the archiver stopped: ${String(fatal)}`);
        const [committed] = await admin.fetchOffsets({ groupId: lakeGroup, topics: [eventsTopic] });
        return ends.every((e) => committed!.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      }, 30_000, 100);
    } finally {
      await admin.disconnect();
    }

    const record = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } } }, { dates: [day] });
    expect(record.status, record.errors.join('; ')).toBe('ok');
    // The lake had the resent batch twice; the batch kept one row per event id.
    expect(record.days).toMatchObject([{ day, rowsRead: EVENTS + resent, duplicates: resent, events: EVENTS, outsideDay: 0 }]);

    // Every event id the SDK returned, against the lake (raw, at-least-once) and the batch views (deduplicated).
    const store = new ViewsStore(dataDir);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    let lakeRows: { event_id: string; n: number }[];
    let viewRows: { page: string; type: string; n: number }[];
    try {
      const lake = await conn.runAndReadAll('SELECT event_id, CAST(count(*) AS INTEGER) AS n FROM read_parquet($g, hive_partitioning = false) GROUP BY event_id', { g: `${dataDir}/lake/events/**/*.parquet` });
      lakeRows = lake.getRowObjectsJS() as typeof lakeRows;
      // The view keeps no event id; each event's page (/e/<n>) is its own, so it stands for the id.
      const view = await conn.runAndReadAll('SELECT page, any_value(type) AS type, CAST(count(*) AS INTEGER) AS n FROM read_parquet($f) GROUP BY page', { f: store.tablePath(store.current()!.days[day]!.dir, 'events') });
      viewRows = view.getRowObjectsJS() as typeof viewRows;
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    const inLake = new Map(lakeRows.map((r) => [r.event_id, r.n]));
    const inView = new Map(viewRows.map((r) => [r.page, r]));
    let twiceInLake = 0;
    for (const [id, e] of expected) {
      const stored = inLake.get(id);
      expect(stored, `event ${id} (${e.type}) is missing from the lake`).toBeDefined();
      expect(stored, `event ${id} stored ${stored} times`).toBeLessThanOrEqual(2);
      if (stored === 2) twiceInLake++;
      const row = inView.get(e.page);
      expect(row, `event ${id} (${e.type}, ${e.page}) is missing from the batch view`).toBeDefined();
      expect(row!.n, `event ${id} (${e.page}) counted ${row!.n} times`).toBe(1);
      expect(row!.type).toBe(e.type);
    }
    expect(twiceInLake).toBe(resent);
    expect(inLake.size, 'events in the lake that the SDK never sent').toBe(expected.size);
    expect(inView.size, 'events in the view that the SDK never sent').toBe(expected.size);

    // And the numbers the serving layer reads from the batch views.
    const reader = new BatchReader({ dataDir, duckdb: { memoryLimit: '256MB', threads: 1 } });
    onCleanup(() => reader.close());
    const of = (t: EventType) => [...expected.values()].filter((e) => e.type === t).length;
    expect(await reader.totals({ site: SITE.id, from: noon, to: noon + DAY_MS / 2, metrics: ['pageviews', 'events', 'purchases', 'revenue'], currency: 'EUR' })).toEqual({
      pageviews: of('pageview'),
      events: of('custom'),
      purchases: of('purchase'),
      revenue: of('purchase') * 12_500_000, // micro-units of the currency asked (EUR, every purchase's), as every store keeps it
    });
    console.info(`sdk exactly-once: ${proxy.refused} × 503, ${resent} events resent after a lost 202, ${client.stats().requests} requests; sent after ${sent - started} ms, verified after ${Date.now() - started} ms`);
  });
});
