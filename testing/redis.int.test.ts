import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from './helpers.ts';

describe('real Redis', () => {
  afterAll(runCleanups);

  it('writes and reads counters, HyperLogLogs and TTLs', async () => {
    const { redis, prefix } = testRedis(testConfig());
    const key = `${prefix}{site}:pv`;
    await redis.multi().hincrby(key, 'm1', 5).hincrby(key, 'm1', 2).expire(key, 60).exec();
    expect(await redis.hget(key, 'm1')).toBe('7');
    expect(await redis.ttl(key)).toBeGreaterThan(50);
    const hll = `${prefix}{site}:uv`;
    await redis.pfadd(hll, ...Array.from({ length: 1000 }, (_, i) => `v${i}`));
    const est = await redis.pfcount(hll);
    expect(Math.abs(est - 1000) / 1000).toBeLessThan(0.03);
  });
});
