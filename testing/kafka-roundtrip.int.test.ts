import { afterAll, describe, expect, it } from 'vitest';
import { createTopic, kafkaClient, runCleanups, testConfig, uniqueName, waitUntil } from './helpers.ts';

describe('real Kafka broker', () => {
  afterAll(runCleanups);

  it('produces 10,000 messages and a consumer group reads each exactly once', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'roundtrip', 3);
    const kafka = kafkaClient(config);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const N = 10_000;
    for (let start = 0; start < N; start += 1000) {
      const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `k${(start + i) % 97}`, value: String(start + i) }));
      await producer.send({ topic, acks: -1, messages });
    }
    await producer.disconnect();

    const seen = new Map<number, number>();
    const consumer = kafka.consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const n = Number(message.value!.toString());
        seen.set(n, (seen.get(n) ?? 0) + 1);
      },
    });
    await waitUntil('all 10,000 messages', () => seen.size >= N, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive in this window
    await consumer.disconnect();

    expect(seen.size).toBe(N);
    for (let i = 0; i < N; i++) expect(seen.get(i), `message ${i}`).toBe(1);
  });
});
