import { describe, expect, it } from 'vitest';
import { fetchTopicEnds } from './kafka-topics.ts';

/** A broker answer kafkajs marks as one a retry can help, or not. */
function kafkaError(type: string, retriable: boolean): Error {
  return Object.assign(new Error(type), { type, retriable });
}

describe('fetchTopicEnds', () => {
  const ends = [{ partition: 0, offset: '7', high: '7', low: '0' }];

  it('asks again while the leader of a just-created topic answers "not the leader"', async () => {
    let calls = 0;
    const admin = {
      fetchTopicOffsets: async () => {
        calls++;
        if (calls < 3) throw kafkaError('NOT_LEADER_FOR_PARTITION', true);
        return ends;
      },
    };
    await expect(fetchTopicEnds(admin, 't', 5_000)).resolves.toEqual(ends);
    expect(calls).toBe(3);
  });

  it('throws at once an error no retry can help', async () => {
    let calls = 0;
    const admin = {
      fetchTopicOffsets: async () => {
        calls++;
        throw kafkaError('TOPIC_AUTHORIZATION_FAILED', false);
      },
    };
    await expect(fetchTopicEnds(admin, 't', 5_000)).rejects.toThrow('TOPIC_AUTHORIZATION_FAILED');
    expect(calls).toBe(1);
  });

  it('gives up with the last error once its time is out', async () => {
    const admin = {
      fetchTopicOffsets: async (): Promise<typeof ends> => {
        throw kafkaError('NOT_LEADER_FOR_PARTITION', true);
      },
    };
    const t0 = Date.now();
    await expect(fetchTopicEnds(admin, 't', 300)).rejects.toThrow('NOT_LEADER_FOR_PARTITION');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });
});
