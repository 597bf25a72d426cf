/** How far a consumer group is behind on a topic: the sum over partitions of end offset minus committed offset. */
import type { Admin } from 'kafkajs';

export async function groupLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map<number, bigint>();
  for (const t of committed) for (const p of t.partitions) done.set(p.partition, BigInt(p.offset));
  let lag = 0n;
  for (const p of ends) {
    const end = BigInt(p.high);
    const at = done.get(p.partition) ?? -1n;
    // -1: the group has committed nothing on the partition yet, so all of it is behind.
    lag += at < 0n ? end - BigInt(p.low) : end - at;
  }
  return Number(lag);
}
