/**
 * The sketch made here is the one Redis makes: against the real Redis, PFADD of the same ids gives
 * the same registers, byte for byte, and PFCOUNT/PFMERGE take ours as their own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { DENSE_BYTES, RedisHll } from './redis-hll.ts';

describe('RedisHll against Redis', () => {
  const { redis, prefix } = testRedis(testConfig());
  afterAll(runCleanups);

  it('has the registers PFADD gives the same ids (ASCII, Unicode, empty, long), and PFCOUNT reads it', async () => {
    const ids = [...Array.from({ length: 30_000 }, (_, i) => `visitor-${i}`), '', 'é', '访客', 'x'.repeat(1_000), ...Array.from({ length: 15 }, (_, i) => 'a'.repeat(i))];
    const ours = new RedisHll();
    for (const id of ids) ours.add(id);
    const theirs = `${prefix}theirs`;
    for (let i = 0; i < ids.length; i += 5_000) await redis.pfadd(theirs, ...ids.slice(i, i + 5_000));
    await redis.call('PFDEBUG', 'TODENSE', theirs);
    const dense = (await redis.getBuffer(theirs))!;
    expect(dense.length).toBe(DENSE_BYTES);
    expect(Buffer.from(ours.registers)).toEqual(Buffer.from(RedisHll.fromBuffer(dense).registers));
    expect(ours.toBuffer().subarray(16)).toEqual(dense.subarray(16));
    const mine = `${prefix}ours`;
    await redis.set(mine, ours.toBuffer());
    expect(await redis.pfcount(mine)).toBe(await redis.pfcount(theirs));
    await redis.pfmerge(`${prefix}both`, mine, theirs);
    expect(await redis.pfcount(`${prefix}both`)).toBe(await redis.pfcount(theirs));
  });

  it('merges as PFMERGE does', async () => {
    const a = new RedisHll();
    const b = new RedisHll();
    for (let i = 0; i < 5_000; i++) a.add(`a-${i}`);
    for (let i = 0; i < 5_000; i++) b.add(`b-${i % 2_500}`);
    await redis.set(`${prefix}a`, a.toBuffer());
    await redis.set(`${prefix}b`, b.toBuffer());
    await redis.pfmerge(`${prefix}ab`, `${prefix}a`, `${prefix}b`);
    a.merge(b);
    await redis.set(`${prefix}merged`, a.toBuffer());
    expect(await redis.pfcount(`${prefix}merged`)).toBe(await redis.pfcount(`${prefix}ab`));
    expect(Math.abs((await redis.pfcount(`${prefix}merged`)) - 7_500) / 7_500).toBeLessThan(0.03);
  });
});
