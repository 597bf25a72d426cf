/**
 * The collector's Kafka partitioner: the same partition for a key as kafkajs's DefaultPartitioner
 * (and Java's: murmur2 of the key's UTF-8 bytes, made positive, modulo the partition count), so a
 * visitor's events land where any other producer of the topic puts them, computed with 32-bit
 * integer arithmetic instead of kafkajs's 64-bit Long objects (a tenth of the collector's CPU
 * under load went there). Keyless messages and explicit partitions go to kafkajs's own.
 */
import { Partitioners, type ICustomPartitioner } from 'kafkajs';

const M = 0x5bd1e995;

/** Kafka's murmur2 (Utils.murmur2 of the Java client), as a signed 32-bit integer. */
export function murmur2(data: Buffer): number {
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2]! << 16;
    // falls through
    case 2:
      h ^= data[whole + 1]! << 8;
    // falls through
    case 1:
      h ^= data[whole]!;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export const KeyPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const key = message.key;
    if (key === null || key === undefined) return fallback(args);
    return (murmur2(Buffer.isBuffer(key) ? key : Buffer.from(key)) & 0x7fffffff) % partitionMetadata.length;
  };
};
