import { describe, expect, it } from 'vitest';
import { ResultCache } from './result.cache.ts';

describe('ResultCache', () => {
  it('merges concurrent misses into one load and serves hits after', async () => {
    const cache = new ResultCache(10);
    let loads = 0;
    const load = async () => ++loads;
    const [a, b] = await Promise.all([cache.getOrLoad('k', load), cache.getOrLoad('k', load)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    expect(await cache.getOrLoad('k', load)).toBe(1);
    expect(cache.stats).toEqual({ hits: 2, misses: 1 });
  });

  it('forgets a failed load so the next call retries', async () => {
    const cache = new ResultCache(10);
    await expect(cache.getOrLoad('k', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.getOrLoad('k', async () => 'up')).toBe('up');
  });

  it('evicts the least recently used entry and honours a TTL', async () => {
    let now = 0;
    const cache = new ResultCache(2, () => now);
    await cache.getOrLoad('a', async () => 1);
    await cache.getOrLoad('b', async () => 2);
    await cache.getOrLoad('a', async () => 0); // hit: a becomes most recent
    await cache.getOrLoad('c', async () => 3); // evicts b
    expect(await cache.getOrLoad('b', async () => 22)).toBe(22);
    await cache.getOrLoad('t', async () => 'old', 100);
    now = 99;
    expect(await cache.getOrLoad('t', async () => 'new', 100)).toBe('old');
    now = 100;
    expect(await cache.getOrLoad('t', async () => 'new', 100)).toBe('new');
  });
});
