import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
import { DeadLetterWriter } from './dead-letter.writer.ts';
import { DlqArchiver } from './dlq.archiver.ts';

const config = testConfig();

function archiver(topic: string, store: DeadLetterStore, groupId: string, breaker = { threshold: 0.5, minBatch: 10 }) {
  const metrics = new Metrics();
  return { metrics, a: new DlqArchiver({ kafka: kafkaClient(config), topic, groupId, store, metrics, logger: silentLogger(), breaker, statsRefreshMs: 200 }) };
}

describe('DlqArchiver (real Kafka, Parquet store)', () => {
  afterAll(runCleanups);

  it('persists every dead letter with its metadata, once, across restarts and redelivery', async () => {
    const topic = await createTopic(config, 'dlq', 2);
    const writer = new DeadLetterWriter({ kafka: kafkaClient(config), topic, logger: silentLogger(), metrics: new Metrics() });
    const sent = await writer.write(
      Array.from({ length: 40 }, (_, i) => ({
        stage: i % 2 ? ('decode' as const) : ('validate' as const),
        code: i % 2 ? ('UNKNOWN_SCHEMA_ID' as const) : ('SCHEMA_VIOLATION' as const),
        message: `failure ${i}`,
        ...(i % 2 ? { source: { topic: 'twinlane.events', partition: i % 3, offset: String(i) } } : { field: 'revenue' }),
        siteId: `site-${i % 4}`,
        payload: Buffer.from([0, 0, 0, 0, i, 0xff]),
        payloadFormat: i % 2 ? ('avro-confluent' as const) : ('json' as const),
      })),
    );
    await writer.stop();
    // One message somebody produced by hand, without metadata: kept, not lost.
    const producer = kafkaClient(config).producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'stray' }] });
    await producer.disconnect();

    const dir = tempDir('dlq-arch');
    const store = new DeadLetterStore(dir);
    const group = uniqueName('dlq-arch');
    const first = archiver(topic, store, group);
    await first.a.start();
    await waitUntil('41 letters archived', async () => (await store.count()) >= 41, 30_000, 200);
    await first.a.stop();

    const one = (await store.get(sent[7]!.id))!;
    expect(one).toMatchObject({ stage: 'decode', code: 'UNKNOWN_SCHEMA_ID', message: 'failure 7', siteId: 'site-3', status: 'pending', attempts: 1, payloadFormat: 'avro-confluent' });
    expect(one.source).toEqual({ topic: 'twinlane.events', partition: 1, offset: '7' });
    expect(one.payload.equals(sent[7]!.payload)).toBe(true);
    const stray = await store.list({ stage: ['archive'] });
    expect(stray).toHaveLength(1);
    expect(stray[0]!.payload.toString()).toBe('stray');
    expect(stray[0]!.message).toContain('without sound metadata');
    await waitUntil('stored gauge', async () => (await first.metrics.text()).includes('twinlane_dlq_stored_letters{stage="validate",code="SCHEMA_VIOLATION",status="pending"} 20'), 30_000); // the gauge refreshes from the store in the background: slow on a loaded machine
    expect(await first.metrics.text()).toContain('twinlane_dlq_archived_total{stage="decode",code="UNKNOWN_SCHEMA_ID"} 20');

    // A new group re-reads everything (a redelivery of every batch): the ids collapse.
    const again = archiver(topic, store, uniqueName('dlq-arch-redeliver'));
    await again.a.start();
    const archivedSum = async () => [...(await again.metrics.text()).matchAll(/dlq_archived_total\{[^}]*\} (\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
    await waitUntil('all 41 redelivered', async () => (await archivedSum()) === 41, 30_000, 200);
    await again.a.stop();
    expect(await store.count()).toBe(41);
    store.close();
  });

  it('stops without committing when most of a batch is not a dead letter (circuit breaker)', async () => {
    const topic = await createTopic(config, 'dlq-trip', 1);
    const producer = kafkaClient(config).producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ value: `garbage ${i}` })) });
    await producer.disconnect();

    const store = new DeadLetterStore(tempDir('dlq-trip'));
    const group = uniqueName('dlq-trip');
    const { a, metrics } = archiver(topic, store, group);
    await a.start();
    await waitUntil('circuit open', () => a.circuitOpen, 30_000);
    await waitUntil('archiver stopped', () => !a.running, 10_000);
    expect(await metrics.text()).toContain('twinlane_circuit_open{consumer="dlq-archiver"} 1');
    expect(await store.count()).toBe(0);
    const admin = kafkaClient(config).admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    await admin.disconnect();
    expect(offsets[0]!.partitions[0]!.offset).toBe('-1');
    store.close();
  });
});
