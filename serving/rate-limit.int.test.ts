/**
 * The serving API's rate limits against the real Redis: per client address and per site (a site
 * of ours named in the path), 429 with Retry-After in the API's error shape; probes are never
 * limited; an unknown site mints no counter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const config = testConfig();
const KEY = 'rk_shop_0123456789';
let s: ServingApp;
let redis: ReturnType<typeof testRedis>['redis'];
let prefix: string;

beforeAll(async () => {
  ({ redis, prefix } = testRedis(config));
  s = await buildServingApp({
    batch: { current: async () => null },
    speed: new MemoryViewReader({ source: 'speed', events: [], coverage: {} }),
    sites: parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: KEY }, { id: 'blog', writeKey: 'wk_blog_0123456789', readKey: 'rk_blog_0123456789' }] }),
    rateLimit: { limits: { client: { max: 6, windowMs: 60_000 }, site: { max: 4, windowMs: 60_000 } }, redis, keyPrefix: prefix },
  });
});

afterAll(async () => {
  await s?.app.close();
  await runCleanups();
});

const get = (url: string, ip = '127.0.0.1') => s.app.inject({ method: 'GET', url, remoteAddress: ip, headers: { authorization: `Bearer ${KEY}` } });

describe('serving rate limits', () => {
  it('limits a site across clients and a client across sites, answering 429 with Retry-After', async () => {
    const shop = [];
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']) shop.push((await get('/v1/sites/shop/totals?metrics=pageviews', ip)).statusCode);
    expect(shop).toEqual([200, 200, 200, 200, 429]);
    const r = await get('/v1/sites/shop/totals?metrics=pageviews', '10.0.0.6');
    expect(r.statusCode).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(r.json().error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/site: 4 requests per 1m/) });

    // One client: 6 requests, whatever the sites (and unknown sites count for the client only).
    const one = [];
    for (let i = 0; i < 7; i++) one.push((await get(i % 2 ? '/v1/sites/nope/totals' : '/openapi.json', '10.0.1.1')).statusCode);
    expect(one.slice(0, 6).every((c) => c !== 429), String(one)).toBe(true);
    expect(one[6]).toBe(429);
    expect((await get('/healthz', '10.0.1.1')).statusCode).toBe(200);
    expect((await get('/metrics', '10.0.1.1')).statusCode).toBe(200);
    expect((await redis.keys(`${prefix}*`)).filter((k) => k.includes('nope'))).toEqual([]);
    expect((await get('/metrics')).body).toMatch(/rate_limited_total\{service="serving",scope="site"\} 2/);
  });
});
