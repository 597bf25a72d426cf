/**
 * No raw PII at rest in dead letters, and replay checks every record as live traffic is checked
 * (privacy issue, parts 2 and 6; contract 8). Real Kafka, registry, DLQ archiver, Parquet store
 * and the collector's pipeline:
 * - a JSON letter holding an e-mail address and a card number is stored without them (in the DLQ
 *   topic too), says what was redacted, and replays after a transform;
 * - a transform's complete record for a site that does not exist is refused; one with an e-mail
 *   in its URL is redacted; one far outside the clock-skew window is adjusted as live traffic;
 * - a letter refused for authentication is never replayed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { luhnValid } from '../core/pii.redactor.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites } from '../core/sites.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { replayWith } from '../apps/index.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
import { DeadLetterWriter } from './dead-letter.writer.ts';
import { DlqArchiver } from './dlq.archiver.ts';
import type { Transform } from './record.preparer.ts';

const config = testConfig();
const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
const now = Date.now();
const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';
/** A millisecond time a minute ago whose 13 digits pass the Luhn check: a number, never taken for a card. */
const luhnTs = (() => {
  for (let t = now - 60_000; ; t--) if (luhnValid(String(t))) return t;
})();
const [sample] = [...generateTraffic({ seed: 5, sites: ['shop'], from: now - 3_600_000, to: now, events: 1, botFraction: 0 })];

/** Every message of a topic: its bytes, as text, and its headers. */
async function topicValues(topic: string, n: number): Promise<{ raw: Buffer; value: string; headers: Record<string, string> }[]> {
  const consumer = kafkaClient(config).consumer({ groupId: uniqueName('pii-read') });
  const seen: { raw: Buffer; value: string; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const raw = message.value ?? Buffer.alloc(0);
      seen.push({ raw, value: raw.toString('utf8'), headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])) });
    },
  });
  await waitUntil(`${n} messages of ${topic}`, () => seen.length >= n, 20_000);
  await consumer.disconnect();
  return seen;
}

describe('dead letters without raw PII; replay checks records as live traffic', () => {
  let dlqTopic: string;
  let eventsTopic: string;
  let store: DeadLetterStore;
  const ids: Record<string, string> = {};
  const wiring = () => ({ kafka: kafkaClient(config), registry, sites: loadSites(config.SITES_FILE), store, eventsTopic, logger: silentLogger(), metrics: new Metrics() });

  beforeAll(async () => {
    dlqTopic = await createTopic(config, 'pii-dlq', 1);
    eventsTopic = await createTopic(config, 'pii-events', 1);
    store = new DeadLetterStore(tempDir('pii-dlq'));
    const writer = new DeadLetterWriter({ kafka: kafkaClient(config), topic: dlqTopic, logger: silentLogger(), metrics: new Metrics() });
    const purchase = { id: randomUUID(), type: 'purchase', url: `https://shop.example/thanks?email=${EMAIL}`, ts: luhnTs, revenue: '100', currency: 'EUR', visitor: 'v-pii', props: { card: CARD } };
    const sent = await writer.write([
      { stage: 'validate', code: 'SCHEMA_VIOLATION', message: `revenue: expected a number (${EMAIL})`, field: 'revenue', siteId: 'shop', payload: Buffer.from(JSON.stringify(purchase)), payloadFormat: 'json', firstSeen: now - 60_000 },
      // Text a producer put on the events topic by hand: binary, but UTF-8.
      { stage: 'decode', code: 'PAYLOAD_FORMAT', message: 'no Confluent framing', payload: Buffer.from(`contact ${EMAIL}`), payloadFormat: 'binary', source: { topic: 'events', partition: 0, offset: '5' } },
      { stage: 'collect', code: 'UNAUTHORIZED', message: 'wrong write key', siteId: 'shop', payload: Buffer.from(JSON.stringify({ type: 'pageview', url: 'https://shop.example/' })), payloadFormat: 'json', firstSeen: now - 60_000 },
      // Three letters a transform replaces by complete records.
      ...[1, 2, 3].map((i) => ({ stage: 'validate' as const, code: 'SCHEMA_VIOLATION' as const, message: `to be replaced ${i}`, siteId: 'shop', payload: Buffer.from('{"type": "pageview"}'), payloadFormat: 'json' as const, firstSeen: now - 60_000 })),
    ]);
    await writer.stop();
    [ids.purchase, ids.text, ids.unauthorized, ids.nowhere, ids.withEmail, ids.longAgo] = sent.map((l) => l.id);
    const archiver = new DlqArchiver({ kafka: kafkaClient(config), topic: dlqTopic, groupId: uniqueName('pii-arch'), store, metrics: new Metrics(), logger: silentLogger(), breaker: { threshold: 0.5, minBatch: 10 }, statsRefreshMs: 60_000 });
    await archiver.start();
    await waitUntil('6 letters archived', async () => (await store.count()) >= 6, 30_000, 200);
    await archiver.stop();
  }, 60_000);
  afterAll(async () => {
    store.close();
    await runCleanups();
  });

  it('stores JSON and text letters without the e-mail address and card number, in the topic and the store, and says what was redacted', async () => {
    for (const m of await topicValues(dlqTopic, 6)) {
      expect(m.value).not.toContain(EMAIL);
      expect(m.value).not.toContain(CARD);
      expect(m.headers['tl-message'] ?? '').not.toContain(EMAIL);
    }
    const purchase = (await store.get(ids.purchase!))!;
    expect(purchase.redacted).toBe('email=2,card=1');
    expect(purchase.payload.toString()).toContain('[email]');
    expect(purchase.payload.toString()).toContain('[card]');
    // Still JSON, its numbers untouched (a 13-digit time passing Luhn is not a card).
    expect(JSON.parse(purchase.payload.toString())).toMatchObject({ ts: luhnTs, revenue: '100', props: { card: '[card]' } });
    expect(purchase.message).toBe('revenue: expected a number ([email])');
    const text = (await store.get(ids.text!))!;
    expect(text.payload.toString()).toBe('contact [email]');
    expect(text.redacted).toBe('email=1');
    expect((await store.get(ids.nowhere!))!.redacted).toBeUndefined();
  });

  it('replays the redacted letter after a transform; refuses, redacts and adjusts complete records as live traffic; never replays a 401/403 sample', async () => {
    const record = (over: Partial<TwinlaneEvent>): TwinlaneEvent => ({ ...sample!, event_id: randomUUID(), ...over });
    const nowhere = record({ site_id: 'nowhere' });
    const withEmail = record({ url: `https://shop.example/?u=${EMAIL}`, title: `Hello ${EMAIL}` });
    const longAgo = record({ event_time: now - 30 * 86_400_000, received_time: now - 60_000 });
    const records: Record<string, TwinlaneEvent> = { [ids.nowhere!]: nowhere, [ids.withEmail!]: withEmail, [ids.longAgo!]: longAgo };
    const transform: Transform = ({ letter, json }) => (letter.id === ids.purchase ? { ...(json as object), revenue: 100 } : (records[letter.id] ?? null));
    const selection = { ids: [ids.purchase!, ids.unauthorized!, ...Object.keys(records)] };
    // Under the dead-letter policy the record 30 days before its received time is refused.
    const strict = await replayWith(wiring(), { ...config, CLOCK_SKEW_POLICY: 'dead-letter' }, { filter: { ids: [ids.longAgo!] }, transform, dryRun: true });
    expect(strict.verdicts[0]).toMatchObject({ verdict: 'fail', code: 'CLOCK_SKEW' });
    const run = await replayWith(wiring(), config, { filter: selection, transform });
    const byId = new Map(run.verdicts.map((v) => [v.id, v]));
    expect(byId.get(ids.purchase!)).toMatchObject({ verdict: 'pass' });
    expect(byId.get(ids.nowhere!)).toMatchObject({ verdict: 'fail', code: 'UNAUTHORIZED', message: expect.stringContaining('unknown site "nowhere"') });
    expect(byId.get(ids.withEmail!)).toMatchObject({ verdict: 'pass' });
    expect(byId.get(ids.longAgo!)).toMatchObject({ verdict: 'pass' });
    expect(byId.get(ids.unauthorized!)).toMatchObject({ verdict: 'skip', message: expect.stringContaining('never replayed') });
    const codec = new EventCodec(registry, eventsTopic);
    const events: TwinlaneEvent[] = [];
    for (const m of await topicValues(eventsTopic, 3)) events.push((await codec.decode(m.raw)).event);
    expect(events.map((e) => e.site_id)).toEqual(['shop', 'shop', 'shop']);
    const replayedPurchase = events.find((e) => e.type === 'purchase')!;
    expect(replayedPurchase.url).toBe('https://shop.example/thanks?email=[email]');
    expect(replayedPurchase.properties).toEqual({ card: '[card]' });
    const replayedEmail = events.find((e) => e.event_id === withEmail.event_id)!;
    expect(replayedEmail.url).toBe('https://shop.example/?u=[email]');
    expect(replayedEmail.title).toBe('Hello [email]');
    // Outside the 7-day window under the default policy (adjust): received time, flagged.
    const replayedOld = events.find((e) => e.event_id === longAgo.event_id)!;
    expect(replayedOld).toMatchObject({ event_time: longAgo.received_time, time_adjusted: true });
    expect((await store.get(ids.unauthorized!))!.status).toBe('pending');
  });
});
