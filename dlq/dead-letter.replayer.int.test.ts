import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites } from '../core/sites.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EVENT_SCHEMA } from '../schemas/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { frame } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName } from '../testing/helpers.ts';
import { loadTransform } from '../apps/index.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
import type { Transform } from './record.preparer.ts';
import { replayWith } from '../apps/index.ts';
import type { ArchivedDeadLetter } from './types.ts';

const config = testConfig();
const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
const now = Date.now();
const [sample] = [...generateTraffic({ seed: 11, sites: ['shop'], from: now - 3_600_000, to: now, events: 1 })];

let eventsTopic: string;
let store: DeadLetterStore;
const ids = { jsonDrift: randomUUID(), badJson: randomUUID(), avroDrift: randomUUID(), avroDriftTwin: randomUUID(), unknownId: randomUUID() };
const jsonEventId = randomUUID();

function letter(id: string, over: Partial<ArchivedDeadLetter>): ArchivedDeadLetter {
  return { id, stage: 'validate', code: 'SCHEMA_VIOLATION', message: 'm', firstSeen: now - 60_000, attempts: 1, payload: Buffer.alloc(0), payloadFormat: 'json', dlqPartition: 0, dlqOffset: '0', archivedAt: now, ...over };
}

/** Repairs `"revenue": "100"` (collector JSON) and a string `revenue_micros` (a drifted Avro writer). */
const repair: Transform = ({ json, event }) => {
  if (event) return { ...event, revenue_micros: Number(event.revenue_micros) };
  const j = json as Record<string, unknown> | undefined;
  return j && typeof j.revenue === 'string' ? { ...j, revenue: Number(j.revenue) } : undefined;
};

async function topicSize(topic: string): Promise<number> {
  const admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function readAll(topic: string, n: number): Promise<string[]> {
  const codec = new EventCodec(registry, topic);
  const consumer = kafkaClient(config).consumer({ groupId: uniqueName('replay-read') });
  const seen: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void seen.push((await codec.decode(message.value)).event.event_id) });
  const deadline = Date.now() + 20_000;
  while (seen.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  return seen;
}

const wiring = () => ({ kafka: kafkaClient(config), registry, sites: loadSites(config.SITES_FILE), store, eventsTopic, logger: silentLogger(), metrics: new Metrics() });

describe('dlq replay (real Kafka, registry, collector pipeline, Parquet store)', () => {
  beforeAll(async () => {
    eventsTopic = await createTopic(config, 'replay-events', 2);
    store = new DeadLetterStore(tempDir('dlq-replay'));
    const drift = structuredClone(EVENT_SCHEMA);
    drift.fields = drift.fields.map((f) => (f.name === 'revenue_micros' ? { ...f, type: ['null', 'string'] } : f));
    const driftId = await registry.register(drift, `${uniqueName('test-drift')}-value`);
    const driftBytes = frame(driftId, avro.Type.forSchema(drift as avro.Schema).toBuffer({ ...sample!, revenue_micros: '2500000' }));
    const purchase = { id: jsonEventId, type: 'purchase', url: 'https://shop.example/checkout', ts: now - 60_000, revenue: '100', currency: 'EUR', visitor: 'v-1' };
    await store.append(
      [
        letter(ids.jsonDrift, { field: 'revenue', siteId: 'shop', payload: Buffer.from(JSON.stringify(purchase)) }),
        letter(ids.badJson, { stage: 'collect', code: 'PAYLOAD_FORMAT', siteId: 'shop', payload: Buffer.from('{"type": "pageview", ') }),
        letter(ids.avroDrift, { stage: 'decode', field: 'revenue_micros', payloadFormat: 'avro-confluent', payload: driftBytes, source: { topic: 'events', partition: 1, offset: '77' } }),
        // The same source record, dead-lettered by a second consumer of the events topic (the lake archiver).
        // Seen a second later, so it sorts after the first and is the one marked as the duplicate.
        letter(ids.avroDriftTwin, { stage: 'decode', field: 'revenue_micros', payloadFormat: 'avro-confluent', payload: driftBytes, source: { topic: 'events', partition: 1, offset: '77' }, firstSeen: now - 59_000 }),
        letter(ids.unknownId, { stage: 'decode', code: 'UNKNOWN_SCHEMA_ID', payloadFormat: 'avro-confluent', payload: frame(2_000_000_000, Buffer.from([2, 4, 6])) }),
      ],
      'seed',
    );
  });
  afterAll(async () => {
    store.close();
    await runCleanups();
  });

  it('refuses an empty selection, an unknown id and a throwing transform, changing nothing', async () => {
    await expect(replayWith(wiring(), config, { filter: { site: ['nowhere'] } })).rejects.toMatchObject({ code: 'EMPTY_SELECTION', message: expect.stringContaining('site nowhere') });
    await expect(replayWith(wiring(), config, { filter: { ids: [randomUUID()] } })).rejects.toMatchObject({ code: 'EMPTY_SELECTION' });
    await expect(replayWith(wiring(), config, { filter: { ids: [ids.badJson, 'no-such-id'] } })).rejects.toMatchObject({ code: 'UNKNOWN_ID', message: expect.stringContaining('no-such-id') });
    const boom: Transform = ({ letter: l }) => {
      if (l.id === ids.unknownId) throw new Error('cannot repair this');
      return undefined;
    };
    await expect(replayWith(wiring(), config, { filter: {}, transform: boom })).rejects.toMatchObject({ code: 'TRANSFORM_FAILED', message: expect.stringContaining(ids.unknownId) });
    // An events topic that does not exist, and may not be created: named, before anything is marked.
    const missing = uniqueName('replay-missing');
    await expect(replayWith({ ...wiring(), eventsTopic: missing }, { ...config, KAFKA_CREATE_TOPICS: false }, { filter: {}, transform: repair })).rejects.toMatchObject({ code: 'TOPIC_MISSING', message: expect.stringContaining(`topic ${missing} does not exist`) });
    expect(await topicSize(eventsTopic)).toBe(0);
    expect((await store.list()).map((l) => [l.status, l.attempts])).toEqual(Array.from({ length: 5 }, () => ['pending', 1]));
  });

  it('dry run says what would pass and what would fail and why, and sends nothing', async () => {
    const s = await replayWith(wiring(), config, { filter: {}, dryRun: true, transform: repair });
    expect(s).toMatchObject({ dryRun: true, selected: 5, replayed: 2, failedAgain: 2, skipped: 1, events: 2 });
    const byId = new Map(s.verdicts.map((v) => [v.id, v]));
    expect(byId.get(ids.badJson)).toMatchObject({ verdict: 'fail', code: 'PAYLOAD_FORMAT' });
    expect(byId.get(ids.unknownId)).toMatchObject({ verdict: 'fail', code: 'UNKNOWN_SCHEMA_ID' });
    expect(byId.get(ids.avroDriftTwin)).toMatchObject({ verdict: 'skip', message: expect.stringContaining(ids.avroDrift) });
    const plain = await replayWith(wiring(), config, { filter: { ids: [ids.avroDrift, ids.jsonDrift] }, dryRun: true });
    const plainById = new Map(plain.verdicts.map((v) => [v.id, [v.verdict, v.code, v.field]]));
    expect(plainById.get(ids.jsonDrift)).toEqual(['fail', 'SCHEMA_VIOLATION', 'revenue']);
    expect(plainById.get(ids.avroDrift)).toEqual(['fail', 'SCHEMA_VIOLATION', 'revenue_micros']);
    expect(await topicSize(eventsTopic)).toBe(0);
    expect(await store.count({ status: ['pending'] })).toBe(5);
  });

  it('replays repaired records once; failures stay with attempts raised; a second replay sends nothing again', async () => {
    const dir = tempDir('transform');
    const file = join(dir, 'fix-revenue.ts');
    writeFileSync(file, `export default ${repair.toString()};\n`);
    const transform = await loadTransform(file);

    const first = await replayWith(wiring(), config, { filter: {}, transform });
    expect(first).toMatchObject({ dryRun: false, selected: 5, replayed: 2, failedAgain: 2, skipped: 1, events: 2 });
    expect(await topicSize(eventsTopic)).toBe(2);
    expect((await readAll(eventsTopic, 2)).sort()).toEqual([jsonEventId, sample!.event_id].sort());

    const second = await replayWith(wiring(), config, { filter: {}, transform });
    expect(second).toMatchObject({ replayed: 0, failedAgain: 2, skipped: 3 });
    expect(await topicSize(eventsTopic)).toBe(2);

    const after = new Map((await store.list()).map((l) => [l.id, l]));
    expect(after.get(ids.jsonDrift)).toMatchObject({ status: 'replayed', attempts: 2 });
    expect(after.get(ids.avroDrift)).toMatchObject({ status: 'replayed', attempts: 2 });
    expect(after.get(ids.avroDriftTwin)).toMatchObject({ status: 'replayed', attempts: 1, lastMessage: expect.stringContaining(ids.avroDrift) });
    expect(after.get(ids.badJson)).toMatchObject({ status: 'failed-again', attempts: 3, lastCode: 'PAYLOAD_FORMAT' });
    expect(after.get(ids.unknownId)).toMatchObject({ status: 'failed-again', attempts: 3, lastCode: 'UNKNOWN_SCHEMA_ID' });
  });
});
