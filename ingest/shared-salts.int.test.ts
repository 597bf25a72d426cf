/**
 * The hashing salts live in Redis, shared by every collector process: two hashers on their own
 * connections (as two processes) give a visitor one id, a new local date gives a new one, each
 * salt expires just past its period, and without Redis the collector refuses (503) rather than
 * hash with a salt of its own. The real entry points: apps/collector-salts.processes.int.test.ts.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Calendar } from '../core/calendar.ts';
import { freePort } from '../core/processes.ts';
import { runCleanups, testConfig, testRedis, waitUntil } from '../testing/helpers.ts';
import { IpHasher, SALT_GRACE_MS } from './ip.hasher.ts';
import { RedisSaltStore, SaltUnavailableError, type SaltStore } from './salt.store.ts';
import { startTestCollector } from './testing/collector.fixture.ts';

const config = testConfig();
const DAY = 86_400_000;

/** A connection like the collector's own (no offline queue: a Redis that is away fails at once). */
function collectorRedis(): Redis {
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  afterAll(() => redis.disconnect());
  return redis;
}

describe('salts shared in Redis', () => {
  afterAll(runCleanups);

  it('gives one visitor one id from two processes, a new id on a new local date, and forgets each salt just past its date', async () => {
    const { redis, prefix } = testRedis(config);
    const [ra, rb] = [collectorRedis(), collectorRedis()];
    await Promise.all([ra, rb].map((r) => waitUntil('redis ready', () => r.status === 'ready', 5_000)));
    // Near real time: Redis expires keys on its own clock.
    let now = Date.now();
    const clock = () => now;
    const storeA = new RedisSaltStore(ra, { prefix });
    const a = new IpHasher(DAY, clock, storeA);
    const b = new IpHasher(DAY, clock, new RedisSaltStore(rb, { prefix }));
    const ids = async (zone: string) => {
      await Promise.all([a.prepare(zone), b.prepare(zone)]);
      return { a: a.visitorId('shop', '203.0.113.9', 'UA', zone), b: b.visitorId('shop', '203.0.113.9', 'UA', zone), ipA: a.hashIp('shop', '203.0.113.9'), ipB: b.hashIp('shop', '203.0.113.9') };
    };
    const today = await ids('Asia/Tokyo');
    expect(today.b).toBe(today.a);
    expect(today.ipB).toBe(today.ipA);
    expect(a.visitorId('shop', '203.0.113.10', 'UA', 'Asia/Tokyo')).not.toBe(today.a);

    const tokyo = Calendar.of('Asia/Tokyo');
    const end = tokyo.next(tokyo.floor(now, 'day'), 'day');
    const key = storeA.key(`visitor:Asia/Tokyo:${tokyo.localDate(now)}`);
    expect(Number(await redis.call('PEXPIRETIME', key))).toBe(end + SALT_GRACE_MS);

    now = end; // Tokyo's next local day
    const tomorrow = await ids('Asia/Tokyo');
    expect(tomorrow.a).not.toBe(today.a);
    expect(tomorrow.b).toBe(tomorrow.a);
  });

  it('rotates the IP salt and Redis forgets the old one just past its period', async () => {
    const { redis, prefix } = testRedis(config);
    const ra = collectorRedis();
    await waitUntil('redis ready', () => ra.status === 'ready', 5_000);
    const store = new RedisSaltStore(ra, { prefix });
    const hasher = new IpHasher(1_000, Date.now, store, 200);
    // Start early in a period, so the whole check stays within it.
    await new Promise((r) => setTimeout(r, 1_000 - (Date.now() % 1_000) + 10));
    const period = Math.floor(Date.now() / 1_000);
    await hasher.prepare();
    const first = hasher.hashIp('shop', '203.0.113.9');
    const key = store.key(`ip:1000:${period}`);
    expect(Number(await redis.call('PEXPIRETIME', key))).toBe((period + 1) * 1_000 + 200);
    await waitUntil(`${key} expired`, async () => (await redis.exists(key)) === 0, 3_000, 50);
    expect(Date.now()).toBeGreaterThanOrEqual((period + 1) * 1_000 + 200);
    await hasher.prepare();
    expect(hasher.hashIp('shop', '203.0.113.9')).not.toBe(first);
  });

  it('refuses requests with 503 SALT_UNAVAILABLE while the salt cannot be read, and accepts them once it can', async () => {
    const dead = new Redis(`redis://127.0.0.1:${await freePort()}`, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    dead.on('error', () => undefined);
    afterAll(() => dead.disconnect());
    await expect(new RedisSaltStore(dead).salt('x', Date.now() + 1_000)).rejects.toBeInstanceOf(SaltUnavailableError);
    const { prefix } = testRedis(config);
    const real = new RedisSaltStore(collectorRedis(), { prefix });
    let down = true;
    const salts: SaltStore = { salt: (name, expiresAt) => (down ? Promise.reject(new SaltUnavailableError('Redis is away')) : real.salt(name, expiresAt)) };
    const tc = await startTestCollector(config, { deps: { salts } });
    const post = () => fetch(`${tc.url}/v1/collect?site=alpha&key=wk_alpha_secret`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ type: 'pageview', url: 'https://alpha.example/' }]) });
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(await refused.json()).toMatchObject({ error: { code: 'SALT_UNAVAILABLE', message: expect.stringMatching(/nothing was accepted, retry later/) } });
    down = false;
    const accepted = await post();
    expect(accepted.status).toBe(202);
  });
});
