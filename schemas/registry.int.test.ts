/**
 * The registry against the real broker: each test has its own `_schemas` topic, talks to it
 * with the real Confluent client and with plain fetch, and restarts instances on it.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { kafkaClient, onCleanup, runCleanups, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { startRegistryInstance, type RegistryInstance } from './registry.fixture.ts';

const config = testConfig();
const kafka = kafkaClient(config);

const record = (name: string, fields: object[]) => JSON.stringify({ type: 'record', name, namespace: 'test', fields });
const V1 = record('Order', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'long' }]);
const V2 = record('Order', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'long' }, { name: 'note', type: ['null', 'string'], default: null }]);
const V3_BREAKS = record('Order', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'long' }, { name: 'shop', type: 'string' }]);

/** A fresh registry topic, deleted after the file. */
function registryTopic(): string {
  const topic = uniqueName('_schemas.test');
  onCleanup(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 }).finally(() => admin.disconnect());
  });
  return topic;
}

async function instance(topic: string): Promise<RegistryInstance> {
  const r = await startRegistryInstance(kafka, topic);
  onCleanup(() => r.stop());
  return r;
}

async function http(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('schema registry on a real _schemas topic', () => {
  afterAll(runCleanups);

  it('works with @kafkajs/confluent-schema-registry: register, same id again, encode/decode, lookups, 409', async () => {
    const topic = registryTopic();
    const reg = await instance(topic);
    const client = new SchemaRegistry({ host: reg.url, retry: { retries: 0 } });
    const subject = 'orders-value';
    const { id } = await client.register({ type: SchemaType.AVRO, schema: V1 }, { subject });
    expect((await client.register({ type: SchemaType.AVRO, schema: V1 }, { subject })).id).toBe(id);

    const encoded = await client.encode(id, { id: 'o-1', amount: 1250 });
    expect(encoded[0]).toBe(0);
    expect(encoded.readUInt32BE(1)).toBe(id);
    expect(await client.decode(encoded)).toEqual({ id: 'o-1', amount: 1250 });

    const { id: id2 } = await client.register({ type: SchemaType.AVRO, schema: V2 }, { subject });
    expect(id2).not.toBe(id);
    expect(await client.getLatestSchemaId(subject)).toBe(id2);
    expect(await client.getRegistryId(subject, 1)).toBe(id);
    expect(await client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: V2 })).toBe(id2);
    // The client set the subject's level on first registration, as it does with Confluent's registry.
    expect((await http(reg.url, 'GET', `/config/${subject}`)).body).toEqual({ compatibilityLevel: 'BACKWARD' });

    // Old data decodes with the reader schema of the new version (Avro resolution in the client).
    const fromV2Reader = await client.decode(encoded, { [SchemaType.AVRO]: { readerSchema: JSON.parse(V2) } });
    expect(fromV2Reader).toEqual({ id: 'o-1', amount: 1250, note: null });

    await expect(client.register({ type: SchemaType.AVRO, schema: V3_BREAKS }, { subject })).rejects.toMatchObject({ status: 409 });
  });

  it('speaks the REST API over plain HTTP, with Confluent error bodies', async () => {
    const reg = await instance(registryTopic());
    const s = 'plain-value';
    expect(await http(reg.url, 'GET', '/subjects')).toEqual({ status: 200, body: [] });
    expect(await http(reg.url, 'GET', `/subjects/${s}/versions`)).toMatchObject({ status: 404, body: { error_code: 40401 } });
    expect(await http(reg.url, 'POST', `/subjects/${s}/versions`, { schema: '{"type":"nope"}' })).toMatchObject({ status: 422, body: { error_code: 42201 } });

    const r1 = await http(reg.url, 'POST', `/subjects/${s}/versions`, { schema: V1 });
    const r2 = await http(reg.url, 'POST', `/subjects/${s}/versions`, { schema: V2 });
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(r2.body.id).toBeGreaterThan(r1.body.id);
    const conflict = await http(reg.url, 'POST', `/subjects/${s}/versions`, { schema: V3_BREAKS });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error_code).toBe(409);
    expect(conflict.body.message).toMatch(/default-less test\.Order\.shop/);

    expect((await http(reg.url, 'GET', `/subjects/${s}/versions`)).body).toEqual([1, 2]);
    expect((await http(reg.url, 'GET', `/subjects/${s}/versions/latest`)).body).toEqual({ subject: s, version: 2, id: r2.body.id, schema: V2 });
    expect((await http(reg.url, 'POST', `/subjects/${s}`, { schema: V1 })).body).toMatchObject({ version: 1, id: r1.body.id });
    expect((await http(reg.url, 'POST', `/compatibility/subjects/${s}/versions/latest`, { schema: V3_BREAKS })).body).toEqual({ is_compatible: false });

    expect(await http(reg.url, 'PUT', `/config/${s}`, { compatibility: 'NONE' })).toEqual({ status: 200, body: { compatibility: 'NONE' } });
    const r3 = await http(reg.url, 'POST', `/subjects/${s}/versions`, { schema: V3_BREAKS });
    expect(r3.status).toBe(200);

    expect((await http(reg.url, 'DELETE', `/subjects/${s}/versions/3`)).body).toBe(3);
    expect((await http(reg.url, 'GET', `/subjects/${s}/versions`)).body).toEqual([1, 2]);
    expect((await http(reg.url, 'GET', `/schemas/ids/${r3.body.id}`)).status).toBe(200); // soft delete keeps the id readable
    expect((await http(reg.url, 'DELETE', `/subjects/${s}/versions/3`)).body.error_code).toBe(40406);
    expect((await http(reg.url, 'DELETE', `/subjects/${s}`)).body).toEqual([1, 2]);
    expect((await http(reg.url, 'GET', '/subjects')).body).toEqual([]);
    expect((await http(reg.url, 'DELETE', `/subjects/${s}?permanent=true`)).body).toEqual([1, 2, 3]);
    expect((await http(reg.url, 'GET', `/schemas/ids/${r1.body.id}`)).body.error_code).toBe(40403);
  });

  it('survives a restart: a new instance on the same topic has the same ids, versions and config', async () => {
    const topic = registryTopic();
    const first = await instance(topic);
    const ids: Record<string, number> = {};
    for (const [subject, schema] of [['a-value', V1], ['a-value', V2], ['b-value', V2], ['c-value', record('C', [{ name: 'x', type: 'int' }])]] as const) {
      ids[`${subject}:${schema.length}`] = (await http(first.url, 'POST', `/subjects/${subject}/versions`, { schema })).body.id;
    }
    await http(first.url, 'PUT', '/config', { compatibility: 'FULL' });
    await http(first.url, 'DELETE', '/subjects/c-value');
    const before = await snapshot(first.url);
    await first.stop();

    const second = await instance(topic);
    expect(await snapshot(second.url)).toEqual(before);
    expect(before.subjects).toEqual(['a-value', 'b-value']);
    expect(before.config).toEqual({ compatibilityLevel: 'FULL' });
    // The next id continues after the highest one, never reusing an id of the first run.
    const next = await http(second.url, 'POST', '/subjects/d-value/versions', { schema: record('D', [{ name: 'y', type: 'int' }]) });
    expect(next.body.id).toBe(Math.max(...Object.values(ids)) + 1);
  });

  it('two instances on one topic, written to at once, hand out distinct ids and agree on all of them', async () => {
    const topic = registryTopic();
    const [one, two] = [await instance(topic), await instance(topic)];
    const schemas = Array.from({ length: 12 }, (_, i) => record(`T${i}`, [{ name: 'v', type: 'int' }]));
    const shared = record('Shared', [{ name: 's', type: 'string' }]);
    const results = await Promise.all([
      ...schemas.map((schema, i) => http(i % 2 ? one.url : two.url, 'POST', `/subjects/t${i}-value/versions`, { schema })),
      http(one.url, 'POST', '/subjects/shared-value/versions', { schema: shared }),
      http(two.url, 'POST', '/subjects/shared-value/versions', { schema: shared }),
    ]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const ids = results.slice(0, schemas.length).map((r) => r.body.id);
    expect(new Set(ids).size).toBe(schemas.length);
    const [sharedOne, sharedTwo] = results.slice(schemas.length).map((r) => r.body.id);
    expect(sharedOne).toBe(sharedTwo);

    await waitUntil('both instances read every write', async () => (await http(one.url, 'GET', '/subjects')).body.length === 13 && (await http(two.url, 'GET', '/subjects')).body.length === 13, 10_000);
    for (const id of [...ids, sharedOne]) {
      expect((await http(one.url, 'GET', `/schemas/ids/${id}`)).body).toEqual((await http(two.url, 'GET', `/schemas/ids/${id}`)).body);
    }
    expect(await snapshot(one.url)).toEqual(await snapshot(two.url));
  });

  it('skips and counts records that are not registry commands, and keeps serving', async () => {
    const topic = registryTopic();
    const first = await instance(topic);
    const { id } = (await http(first.url, 'POST', '/subjects/g-value/versions', { schema: V1 })).body;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: 'not json', value: 'garbage' },
        { key: JSON.stringify({ keytype: 'COMMAND', id: 'x' }), value: JSON.stringify({ op: 'set-config', subject: null, compatibility: 'SIDEWAYS' }) },
        { key: JSON.stringify({ keytype: 'SCHEMA', subject: 'g-value', version: 1, magic: 1 }), value: null },
      ],
    });
    await producer.disconnect();
    const second = await instance(topic);
    expect((await http(second.url, 'GET', '/subjects/g-value/versions/1')).body.id).toBe(id);
    expect((await http(second.url, 'GET', '/config')).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    expect(metrics).toMatch(/twinlane_registry_log_records_skipped_total 2/);
    expect(metrics).toMatch(/twinlane_registry_commands_applied_total\{op="set-config",result="400"\} 1/);
  });

  it('creates its topic compacted with one partition', async () => {
    const topic = registryTopic();
    await instance(topic);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(meta.topics[0]!.partitions).toHaveLength(1);
      const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }] });
      expect(described.resources[0]!.configEntries[0]!.configValue).toBe('compact');
    } finally {
      await admin.disconnect();
    }
  });
});

/** Everything a client can see, for comparing two instances. */
async function snapshot(url: string): Promise<{ subjects: string[]; config: unknown; versions: Record<string, unknown[]> }> {
  const subjects = (await http(url, 'GET', '/subjects?deleted=true')).body as string[];
  const versions: Record<string, unknown[]> = {};
  for (const s of subjects) {
    const list = (await http(url, 'GET', `/subjects/${s}/versions?deleted=true`)).body as number[];
    versions[s] = await Promise.all(list.map(async (v) => (await http(url, 'GET', `/subjects/${s}/versions/${v}?deleted=true`)).body));
  }
  return { subjects: (await http(url, 'GET', '/subjects')).body, config: (await http(url, 'GET', '/config')).body, versions };
}
