/**
 * Schema evolution v1 → v2 of the event record, end to end: both versions registered in the
 * real registry (the stack's), frames sent through a real Kafka topic, decoded by an old (v1)
 * and a new (v2) EventCodec and by the Confluent client. v2 only adds fields with defaults,
 * so old writers/new readers and new writers/old readers both work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTopic, kafkaClient, runCleanups, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { ConfluentRegistryClient, EventCodec } from './event.codec.ts';
import { EVENT_SCHEMA_V1, EVENT_SCHEMA_V2, eventSubject, type TwinlaneEvent } from './event.ts';

const config = testConfig();

function v2Event(i: number): TwinlaneEvent {
  return {
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, site_id: 'shop', type: i % 2 ? 'purchase' : 'pageview',
    name: i % 2 ? 'purchase' : 'pageview', event_time: 1_700_000_000_000 + i, received_time: 1_700_000_000_100 + i,
    visitor_id: `v${i}`, session_id: `s${i}`, url: `https://shop.example/p/${i}`, path: `/p/${i}`, hostname: 'shop.example',
    referrer: null, referrer_host: null, title: `Page ${i}`, utm_source: 'mail', utm_medium: null, utm_campaign: null,
    utm_term: null, utm_content: null, country: 'FR', device_type: 'mobile', browser: 'Safari', os: 'iOS', is_bot: false,
    ip_hash: null, time_adjusted: false, properties: { i: String(i) }, revenue_micros: i % 2 ? 5_000_000 : null,
    currency: i % 2 ? 'EUR' : null, screen_width: 390,
  };
}

/** The same event as a v1 writer knows it: without the fields v2 added. */
function asV1(e: TwinlaneEvent): Omit<TwinlaneEvent, 'hostname' | 'screen_width'> {
  const { hostname: _h, screen_width: _w, ...rest } = e;
  return rest;
}

describe('event schema evolution v1 ↔ v2 through the registry and Kafka', () => {
  afterAll(runCleanups);

  it('old writer → new reader and new writer → old reader', async () => {
    const topic = await createTopic(config, 'evolution', 1);
    const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
    const oldCodec = new EventCodec(registry, topic, EVENT_SCHEMA_V1);
    const newCodec = new EventCodec(registry, topic, EVENT_SCHEMA_V2);
    const v1Id = await oldCodec.init(); // the world before v2
    const v2Id = await newCodec.init(); // accepted under BACKWARD: the added fields have defaults
    expect(v2Id).not.toBe(v1Id);
    expect(await registry.client.getRegistryId(eventSubject(topic), 1)).toBe(v1Id);
    expect(await registry.client.getRegistryId(eventSubject(topic), 2)).toBe(v2Id);
    // An old producer restarting registers v1 again: same id, no new version.
    expect(await new EventCodec(registry, topic, EVENT_SCHEMA_V1).init()).toBe(v1Id);

    const events = Array.from({ length: 20 }, (_, i) => v2Event(i));
    const producer = kafkaClient(config).producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e, i) => ({ key: e.event_id, value: i < 10 ? oldCodec.encode(asV1(e) as TwinlaneEvent) : newCodec.encode(e) })),
    });
    await producer.disconnect();

    const values: Buffer[] = [];
    const consumer = kafkaClient(config).consumer({ groupId: uniqueName('evolution'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!) });
    await waitUntil('20 events', () => values.length >= 20, 30_000);
    await consumer.disconnect();

    for (const [i, buf] of values.entries()) {
      const written = i < 10 ? v1Id : v2Id;
      expect(buf.readUInt32BE(1), `event ${i} carries its writer's id`).toBe(written);
      // New reader: v1 data gets v2's defaults for the fields it lacks.
      const byNew = await newCodec.decode(buf);
      expect(byNew.schemaId).toBe(written);
      expect(byNew.event).toEqual(i < 10 ? { ...events[i], hostname: '', screen_width: null } : events[i]);
      // Old reader: v2 data without the fields it does not know.
      const byOld = await oldCodec.decode(buf);
      expect(byOld.event).toEqual(asV1(events[i]!));
      // Any Confluent client decodes our frames with the writer schema from the registry.
      expect(await registry.client.decode(buf)).toMatchObject({ event_id: events[i]!.event_id, visitor_id: events[i]!.visitor_id });
    }
  });

  it('a v3 that adds a field without a default is refused (409) and nothing changes', async () => {
    const topic = uniqueName('test.evolution-refused');
    const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
    await new EventCodec(registry, topic, EVENT_SCHEMA_V2).init();
    const v3 = { ...EVENT_SCHEMA_V2, fields: [...EVENT_SCHEMA_V2.fields, { name: 'plan', type: 'string' }] };
    await expect(new EventCodec(registry, topic, v3).init()).rejects.toMatchObject({ code: 'REGISTRY_REGISTER_FAILED', message: expect.stringMatching(/incompatible/) });
    const versions = await (await fetch(new URL(`/subjects/${eventSubject(topic)}/versions`, config.SCHEMA_REGISTRY_URL))).json();
    expect(versions).toEqual([1]);
    expect(await registry.schemaById(await registry.client.getLatestSchemaId(eventSubject(topic)))).toEqual(EVENT_SCHEMA_V2);
  });
});
