/**
 * The leasing rate-limit store against the real Redis: two stores (two processes' worth, each
 * with its own connection) sharing one counter never grant more than the limit together, grant
 * nearly all of it, and need far fewer Redis calls than requests; past the limit they answer from
 * memory with the window's remaining time.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { onCleanup, runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { leasedRedisStore, type LeasedRedisStore } from './rate-limit.store.ts';

const config = testConfig();
afterAll(runCleanups);

function take(store: LeasedRedisStore, key: string, windowMs: number, max: number): Promise<{ current: number; ttl: number }> {
  return new Promise((resolve, reject) => store.incr(key, (err, r) => (err ? reject(err) : resolve(r!)), windowMs, max));
}

/** A store on its own connection, and the number of leases it sent to Redis. */
function store(prefix: string): { store: LeasedRedisStore; leases: () => number } {
  const redis = new Redis(config.REDIS_URL);
  onCleanup(async () => redis.disconnect());
  const Store = leasedRedisStore(redis, prefix);
  const s = new Store();
  let n = 0;
  const lease = (redis as unknown as { rateLimitLease: (...a: unknown[]) => Promise<unknown> }).rateLimitLease.bind(redis);
  (redis as unknown as { rateLimitLease: (...a: unknown[]) => Promise<unknown> }).rateLimitLease = (...a) => {
    n++;
    return lease(...a);
  };
  return { store: s, leases: () => n };
}

describe('leasing rate-limit store (real Redis)', () => {
  it('grants at most the limit across two stores, nearly all of it, with few Redis calls', async () => {
    const { redis, prefix } = testRedis(config);
    const [a, b] = [store(prefix), store(prefix)];
    const MAX = 10_000;
    const results = await Promise.all(Array.from({ length: 15_000 }, (_, i) => take(i % 2 ? a.store : b.store, 'client:203.0.113.1', 60_000, MAX)));
    const granted = results.filter((r) => r.current <= MAX).length;
    expect(granted).toBeLessThanOrEqual(MAX);
    expect(granted).toBeGreaterThanOrEqual(MAX * 0.98);
    expect(a.leases() + b.leases()).toBeLessThan(1_500);
    expect(Number(await redis.get(`${prefix}client:203.0.113.1`))).toBeLessThanOrEqual(MAX + 200); // the refused only add their lease
    expect(await redis.pttl(`${prefix}client:203.0.113.1`)).toBeGreaterThan(50_000);

    // Past the limit: refused from memory, with the window's remaining time.
    const before = a.leases();
    const over = await take(a.store, 'client:203.0.113.1', 60_000, MAX);
    expect(over.current).toBeGreaterThan(MAX);
    expect(over.ttl).toBeGreaterThan(50_000);
    expect(a.leases()).toBe(before);
  });

  it('counts one by one near a small limit, exactly, and starts a new window when the old one expires', async () => {
    const { prefix } = testRedis(config);
    const [a, b] = [store(prefix), store(prefix)];
    const statuses: boolean[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await take(i % 2 ? a.store : b.store, 'site:alpha', 1_000, 15)).current <= 15);
    expect(statuses.filter(Boolean)).toHaveLength(15);
    expect(statuses.slice(15).every((s) => !s)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await take(a.store, 'site:alpha', 1_000, 15)).current).toBe(1);
  });
});
