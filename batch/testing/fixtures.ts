/** Test fixtures of the batch part: an event producer. */
import avro from 'avsc';
import type { Kafka } from 'kafkajs';
import type { TwinlaneEvent } from '../../schemas/event.ts';
import { EventCodec } from '../../schemas/event.codec.ts';

/** Produces events (Confluent-framed Avro, key site:visitor) in batches of 2,000. */
export async function produceEvents(kafka: Kafka, codec: EventCodec, topic: string, events: Iterable<TwinlaneEvent>, extra: { value: Buffer }[] = [], pauseMs = 0): Promise<number> {
  await codec.init();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let n = 0;
  let batch: { key: string; value: Buffer }[] = [];
  const flush = async () => {
    if (batch.length) await producer.send({ topic, acks: -1, messages: batch });
    batch = [];
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  };
  try {
    for (const e of events) {
      batch.push({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) });
      n++;
      if (batch.length >= 2000) await flush();
    }
    await flush();
    if (extra.length) await producer.send({ topic, acks: -1, messages: extra.map((m) => ({ key: 'bad', value: m.value })) });
  } finally {
    await producer.disconnect();
  }
  return n;
}

export { avro };
