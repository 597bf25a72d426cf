import { describe, expect, it } from 'vitest';
import { IpHasher } from './ip.hasher.ts';
import { SaltUnavailableError, type SaltStore } from './salt.store.ts';

describe('IpHasher', () => {
  it("changes the cookieless visitor id at the site's local midnight, not at UTC midnight", () => {
    let now = Date.parse('2026-12-02T15:30:00Z'); // Dec 3, 00:30 in Tokyo
    const hasher = new IpHasher(86_400_000, () => now);
    const tokyo = () => hasher.visitorId('shop', '203.0.113.9', 'UA', 'Asia/Tokyo');
    const utc = () => hasher.visitorId('shop', '203.0.113.9', 'UA', 'UTC');
    const t1 = tokyo();
    const u1 = utc();
    now = Date.parse('2026-12-03T00:30:00Z'); // UTC midnight passed; still Dec 3 in Tokyo
    expect(tokyo()).toBe(t1);
    const u2 = utc();
    expect(u2).not.toBe(u1);
    now = Date.parse('2026-12-03T14:59:00Z'); // Dec 3, 23:59 in Tokyo
    expect(tokyo()).toBe(t1);
    now = Date.parse('2026-12-03T15:00:00Z'); // Dec 4 in Tokyo
    expect(tokyo()).not.toBe(t1);
    expect(utc()).toBe(u2);
  });

  it('tells visitors apart by site, IP and user agent within a day', () => {
    const hasher = new IpHasher(86_400_000, () => Date.parse('2026-12-03T12:00:00Z'));
    const ids = new Set([
      hasher.visitorId('shop', '203.0.113.9', 'UA'),
      hasher.visitorId('blog', '203.0.113.9', 'UA'),
      hasher.visitorId('shop', '203.0.113.10', 'UA'),
      hasher.visitorId('shop', '203.0.113.9', 'UA 2'),
    ]);
    expect(ids.size).toBe(4);
    expect(hasher.visitorId('shop', '203.0.113.9', 'UA')).toMatch(/^h-[0-9a-f]{16}$/);
  });

  it('hashes nothing with a shared salt it has not loaded: prepare() loads it once, a failed load is retried', async () => {
    const asked: string[] = [];
    let fail = true;
    const store: SaltStore = {
      salt: async (name) => {
        asked.push(name);
        if (fail) throw new SaltUnavailableError('Redis is away');
        return Buffer.alloc(32, 7);
      },
    };
    const hasher = new IpHasher(3_600_000, () => Date.parse('2026-12-03T12:00:00Z'), store);
    expect(() => hasher.visitorId('shop', '203.0.113.9', 'UA')).toThrow(SaltUnavailableError);
    await expect(hasher.prepare()).rejects.toThrow(SaltUnavailableError);
    fail = false;
    await hasher.prepare();
    expect(hasher.prepare()).toBeUndefined(); // loaded: no promise, no Redis read
    expect(hasher.visitorId('shop', '203.0.113.9', 'UA')).toMatch(/^h-[0-9a-f]{16}$/);
    expect(hasher.hashIp('shop', '203.0.113.9')).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(asked)).toEqual(new Set(['ip:3600000:498972', 'visitor:UTC:2026-12-03']));
  });
});
