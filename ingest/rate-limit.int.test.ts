/**
 * The collector's rate limits against the real Redis: two collector processes' worth of services
 * (each with its own Redis connection) share one per-client and one per-site limit; over it, 429
 * with Retry-After and nothing dead-lettered; a forwarded address counts only from a trusted proxy;
 * a made-up site id mints no counter.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rateLimitRedis } from '../core/clients.ts';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { startTestCollector, type TestCollector } from './testing/collector.fixture.ts';

const config = testConfig();
const ev = { type: 'pageview', url: 'https://alpha.example/p', visitor: 'v1', session: 's1' };

afterAll(runCleanups);

function post(tc: TestCollector, headers: Record<string, string> = {}, site = 'alpha', key = 'wk_alpha_secret'): Promise<Response> {
  return fetch(`${tc.url}/v1/collect?site=${site}&key=${key}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify([{ ...ev, ts: Date.now() }]) });
}

/** A collector limited to `client` requests per client and `site` per site per minute, counting in Redis under `prefix`. */
async function limited(prefix: string, client: number, site: number, trustProxy: boolean | string[] = ['loopback']): Promise<TestCollector> {
  const redis = rateLimitRedis(config);
  const tc = await startTestCollector(config, { service: { trustProxy, rateLimit: { limits: { client: { max: client, windowMs: 60_000 }, site: { max: site, windowMs: 60_000 } }, redis, keyPrefix: prefix } } });
  return tc;
}

describe('collector rate limits', () => {
  it('two collectors share one limit per client and per site; over it: 429 with Retry-After, nothing dead-lettered', async () => {
    const { redis, prefix } = testRedis(config);
    const [a, b] = [await limited(prefix, 10, 15), await limited(prefix, 10, 15)];
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) for (const tc of [a, b]) statuses.push((await post(tc)).status);
    expect(statuses.filter((s) => s === 202 || s === 200).length, `statuses ${statuses}`).toBe(10);
    expect(statuses.filter((s) => s === 429).length).toBe(6);
    const over = await post(a);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await over.json()).error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/client address: 10 requests per/) });

    // Another address through the trusted (loopback) proxy has its own client count, until the site's 15 are used.
    const forwarded = [];
    for (let i = 0; i < 7; i++) forwarded.push((await post(b, { 'x-forwarded-for': '203.0.113.7' })).status);
    expect(forwarded.filter((s) => s === 429).length, `forwarded ${forwarded}`).toBe(2);
    const bySite = await post(b, { 'x-forwarded-for': '203.0.113.8' });
    expect(bySite.status).toBe(429);
    expect((await bySite.json()).error.message).toMatch(/site: 15 requests per/);

    // Made-up sites are answered 401 and mint no site counter.
    expect((await post(a, { 'x-forwarded-for': '203.0.113.9' }, 'made-up-site')).status).toBe(401);
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.some((k) => k.includes('site:alpha'))).toBe(true);
    expect(keys.filter((k) => k.includes('made-up-site'))).toEqual([]);

    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/rate_limited_total\{service="collector",scope="client"\} [1-9]/);
    // Rate-limited requests are refused before their body is read: nothing reaches the dead-letter metrics.
    expect(metrics).not.toMatch(/code="RATE_LIMITED"/);
  });

  it('ignores a forwarded address from a peer that is not a trusted proxy', async () => {
    const { prefix } = testRedis(config);
    const tc = await limited(prefix, 2, 1_000, false);
    const statuses = [];
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) statuses.push((await post(tc, { 'x-forwarded-for': ip })).status);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.filter((s) => s === 429).length).toBe(1);
  });
});
