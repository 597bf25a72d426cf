import type { Kafka, Message, ProducerBatch, ProducerConfig } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { EventsProducer, KafkaUnavailableError, ProducerBusyError } from './events.producer.ts';
import { PRODUCER_DEFAULTS, type ProducerOptions } from './options.ts';

/** A stand-in for kafkajs (unit test only): records batches, acknowledges when told to. */
class FakeKafka {
  batches: Message[][] = [];
  /** Which producer (by creation order) sent each batch, and which were disconnected. */
  sentBy: number[] = [];
  producers = 0;
  disconnected = new Set<number>();
  concurrent = 0;
  maxConcurrent = 0;
  connectError: Error | undefined;
  sendError: Error | undefined;
  private waiters: (() => void)[] = [];
  hold = false;
  /** Answer for every partition the partitioner chose except this one (kafkajs#1303's skipped retry). */
  skipPartition: number | undefined;
  release(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  producer(config: ProducerConfig) {
    const id = ++this.producers;
    const partition = config.createPartitioner!();
    return {
      connect: async () => {
        if (this.connectError) throw this.connectError;
      },
      disconnect: async () => void this.disconnected.add(id),
      sendBatch: async (b: ProducerBatch) => {
        this.concurrent++;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
        try {
          if (this.hold) await new Promise<void>((r) => this.waiters.push(r));
          if (this.sendError) throw this.sendError;
          this.batches.push(b.topicMessages![0]!.messages);
          this.sentBy.push(id);
          expect(b.acks).toBe(-1);
          const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
          const chosen = new Set(b.topicMessages![0]!.messages.map((message) => partition({ topic: 't', partitionMetadata, message })));
          return [...chosen].filter((p) => p !== this.skipPartition).map((p) => ({ topicName: 't', partition: p, errorCode: 0 }));
        } finally {
          this.concurrent--;
        }
      },
    };
  }
}

function producer(fake: FakeKafka, over: Partial<ProducerOptions> = {}): EventsProducer {
  return new EventsProducer({ kafka: fake as unknown as Kafka, logger: silentLogger(), metrics: new Metrics() }, { ...PRODUCER_DEFAULTS, topic: 't', lingerMs: 5, ...over });
}
const msgs = (n: number, tag = 'm') => Array.from({ length: n }, (_, i) => ({ key: `${tag}${i}`, value: Buffer.from(`${tag}${i}`) }));

describe('EventsProducer (micro-batcher)', () => {
  it('gathers the events of many requests into one send and resolves each after the acknowledgement', async () => {
    const fake = new FakeKafka();
    const p = producer(fake);
    await p.start();
    await Promise.all([p.send(msgs(3, 'a')), p.send(msgs(2, 'b')), p.send(msgs(1, 'c'))]);
    expect(fake.batches).toHaveLength(1);
    expect(fake.batches[0]!.map((m) => m.key)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'c0']);
    await p.stop();
  });

  it('keeps one send in flight; what queues meanwhile goes right after, in order', async () => {
    const fake = new FakeKafka();
    fake.hold = true;
    const p = producer(fake, { maxBatchMessages: 4 });
    await p.start();
    let firstDone = false;
    const first = p.send(msgs(4, 'a')).then(() => (firstDone = true));
    await new Promise((r) => setTimeout(r, 20));
    const second = p.send(msgs(3, 'b'));
    const third = p.send(msgs(1, 'c'));
    await new Promise((r) => setTimeout(r, 20));
    expect(firstDone).toBe(false); // not acknowledged yet: the request must still wait
    fake.hold = false;
    fake.release();
    await Promise.all([first, second, third]);
    expect(fake.maxConcurrent).toBe(1);
    expect(fake.batches.map((b) => b.map((m) => m.key).join())).toEqual(['a0,a1,a2,a3', 'b0,b1,b2,c0']);
    await p.stop();
  });

  it('rejects with a retriable error when Kafka fails, then fails fast during the cool-down', async () => {
    const fake = new FakeKafka();
    fake.sendError = new Error('broker down');
    const p = producer(fake, { cooldownMs: 10_000 });
    await p.start();
    const err = await p.send(msgs(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaUnavailableError);
    expect((err as KafkaUnavailableError).retriable).toBe(true);
    expect(p.healthy).toBe(false);
    await expect(p.send(msgs(1))).rejects.toThrow(/last send failed moments ago/);
    await p.stop();
  });

  it('sends on a new producer (new producer id) after a failed send, whose idempotence sequence kafkajs rolled back', async () => {
    // Reproduced in the cluster failover test: a send to a killed leader failed after the broker
    // wrote it; the next send of as many events reused its sequence numbers, and the broker
    // acknowledged it as a duplicate without writing it (accepted events missing from Kafka).
    const fake = new FakeKafka();
    fake.sendError = new Error('Connection error: read ECONNRESET');
    const p = producer(fake, { cooldownMs: 0 });
    await p.start();
    await expect(p.send(msgs(2, 'a'))).rejects.toBeInstanceOf(KafkaUnavailableError);
    fake.sendError = undefined;
    await p.send(msgs(2, 'b'));
    expect(fake.sentBy).toEqual([2]);
    expect(fake.disconnected.has(1)).toBe(true);
    await p.stop();
  });

  it('fails a send that kafkajs resolved without writing one of its partitions, and sends the retry on a new producer', async () => {
    // kafkajs#1303: a leader died mid-send, its partitions moved to a broker that had answered for
    // others, and the retry skipped them; the send resolved and its events were answered 202.
    const fake = new FakeKafka();
    const p = producer(fake, { cooldownMs: 0 });
    await p.start();
    const events = msgs(30, 'a');
    fake.skipPartition = 1;
    await expect(p.send(events)).rejects.toThrow(/without partitions 1/);
    fake.skipPartition = undefined;
    await p.send(events);
    expect(fake.sentBy).toEqual([1, 2]);
    await p.stop();
  });

  it('answers within the acknowledgement timeout when a send hangs, and drops the timed-out events before sending', async () => {
    const fake = new FakeKafka();
    fake.hold = true;
    const p = producer(fake, { ackTimeoutMs: 50, cooldownMs: 0 });
    await p.start();
    const hung = p.send(msgs(1, 'a')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    const queued = p.send(msgs(1, 'b')).catch((e: unknown) => e);
    expect(await hung).toBeInstanceOf(KafkaUnavailableError);
    expect(await queued).toBeInstanceOf(KafkaUnavailableError);
    fake.hold = false;
    fake.release();
    await p.stop();
    expect(fake.batches.map((b) => b.map((m) => m.key).join())).toEqual(['a0']); // 'b0' timed out before its send: never sent
  });

  it('applies backpressure, refuses new events while stopping, and drains what it accepted', async () => {
    const fake = new FakeKafka();
    fake.hold = true;
    const p = producer(fake, { maxQueuedEvents: 5, lingerMs: 1_000 });
    await p.start();
    const accepted = p.send(msgs(5));
    await expect(p.send(msgs(1))).rejects.toBeInstanceOf(ProducerBusyError);
    const stopping = p.stop();
    await new Promise((r) => setTimeout(r, 10));
    await expect(p.send(msgs(1))).rejects.toThrow(/shutting down/);
    fake.hold = false;
    fake.release();
    await accepted;
    await stopping;
    expect(fake.batches.flat()).toHaveLength(5);
  });

  it('starts without Kafka and answers 503-style errors until it connects', async () => {
    const fake = new FakeKafka();
    fake.connectError = new Error('ECONNREFUSED');
    const p = producer(fake, { cooldownMs: 0 });
    await p.start();
    await expect(p.send(msgs(1))).rejects.toThrow(/cannot connect to Kafka: ECONNREFUSED/);
    fake.connectError = undefined;
    await p.send(msgs(1));
    expect(fake.batches).toHaveLength(1);
    await p.stop();
  });
});
