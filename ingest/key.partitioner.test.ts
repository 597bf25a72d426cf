import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { KeyPartitioner, murmur2 } from './key.partitioner.ts';

// kafkajs's own (Long-based) murmur2: the one truth to agree with.
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;

describe('KeyPartitioner', () => {
  it("computes Kafka's murmur2 exactly as kafkajs does, for every key length and non-ASCII keys", () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'shop:h-0123456789abcdef', 'blog:visitor-ü-名前-🙂', ...Array.from({ length: 2_000 }, (_, i) => `site-${i % 7}:v${(i * 2654435761) >>> 0}${'x'.repeat(i % 13)}`)];
    for (const k of keys) expect(murmur2(Buffer.from(k)), k).toBe(kafkajsMurmur2(k));
  });

  it("puts every key on the partition kafkajs's DefaultPartitioner picks", () => {
    const partitionMetadata: PartitionMetadata[] = Array.from({ length: 6 }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const ours = KeyPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (let i = 0; i < 1_000; i++) {
      const message = { key: `site:h-${i.toString(16).padStart(16, '0')}`, value: 'x' };
      expect(ours({ topic: 't', partitionMetadata, message })).toBe(theirs({ topic: 't', partitionMetadata, message }));
    }
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: 'x', partition: 4 } })).toBe(4);
  });
});
