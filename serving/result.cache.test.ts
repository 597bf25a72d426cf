import { describe, expect, it } from 'vitest';
import { estimateBytes, ResultCache } from './result.cache.ts';

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

  it('stays within its bytes: least recently used answers leave first, an answer over a quarter of the bound is not kept', async () => {
    const cache = new ResultCache(1_000, Date.now, 100_000);
    const ids = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}-visitor-${i}`);
    for (let i = 0; i < 40; i++) {
      await cache.getOrLoad(`k${i}`, async () => ids(300, `k${i}`));
      await new Promise((r) => setImmediate(r));
      expect(cache.bytes, `after ${i + 1} answers`).toBeLessThanOrEqual(100_000);
    }
    expect(cache.size).toBeGreaterThan(3);
    expect(cache.size).toBeLessThan(40);
    // The newest stay, the oldest left.
    let loads = 0;
    await cache.getOrLoad('k39', async () => (loads++, []));
    await cache.getOrLoad('k0', async () => (loads++, []));
    expect(loads).toBe(1);
    // 200,000 ids (several MB) are answered and forgotten.
    const big = await cache.getOrLoad('big', async () => ids(200_000, 'big'));
    expect(big).toHaveLength(200_000);
    await new Promise((r) => setImmediate(r));
    expect(cache.bytes).toBeLessThanOrEqual(100_000);
    expect(await cache.getOrLoad('big', async () => ['again'])).toEqual(['again']);
  });

  it('estimates bytes of strings, arrays, objects and maps in proportion to their size', () => {
    const small = estimateBytes({ a: 'x'.repeat(10), b: [1, 2, 3] });
    const large = estimateBytes({ a: 'x'.repeat(10_000), b: Array.from({ length: 3_000 }, (_, i) => i) });
    expect(small).toBeGreaterThan(50);
    expect(large).toBeGreaterThan(10_000 + 3_000 * 8);
    expect(estimateBytes(new Map([['k', 'v'.repeat(1_000)]]))).toBeGreaterThan(1_000);
  });
});
