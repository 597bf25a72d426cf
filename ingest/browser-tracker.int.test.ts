/**
 * The tracker in a real browser (the system Chromium, driven by playwright-core): page view on
 * load, a single-page-app navigation, a custom event and a purchase, batched and sent by
 * sendBeacon to a real collector, then read back from Kafka. No cookie is set. And delivery
 * through failures: a proxy in front of the collector answers 503, then drops a connection; the
 * queue kept in sessionStorage is retried on the next page load and every event lands once.
 */
import { existsSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { kafkaClient, onCleanup, runCleanups, testConfig, waitUntil } from '../testing/helpers.ts';
import { readTopic, startTestCollector } from './testing/collector.fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

async function servePage(collectorUrl: string): Promise<string> {
  const html = `<!doctype html><html><head><title>Home</title>
<script>window.twinlane = { q: [['track', 'early', { from: 'queue' }]] };</script>
<script defer src="${collectorUrl}/t.js" data-site="web" data-key="wk_web_secret" data-flush-ms="60000"></script>
</head><body>app</body></html>`;
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

interface SeenRequest {
  ids: string[];
  urls: string[];
  outcome: '503' | 'dropped' | 'forwarded';
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * In front of the collector: the first POST gets 503 with Retry-After (exposed to the page, as
 * CORS requires for a script to read it), the second loses its connection before reaching the
 * collector, every later one is forwarded as is.
 */
async function startFailingProxy(collectorUrl: string, retryAfterSeconds: number): Promise<{ url: string; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const target = new URL(collectorUrl);
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const events = JSON.parse(body.toString('utf8')) as { id: string; url: string }[];
      const entry: SeenRequest = { ids: events.map((e) => e.id), urls: events.map((e) => e.url), outcome: 'forwarded' };
      seen.push(entry);
      if (seen.length === 1) {
        entry.outcome = '503';
        res
          .writeHead(503, { 'content-type': 'application/json', 'retry-after': String(retryAfterSeconds), 'access-control-allow-origin': req.headers.origin ?? '*', 'access-control-expose-headers': 'Retry-After' })
          .end(JSON.stringify({ error: { code: 'KAFKA_UNAVAILABLE', message: 'proxy: not now' } }));
        return;
      }
      if (seen.length === 2) {
        entry.outcome = 'dropped';
        req.socket.destroy();
        return;
      }
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: 'POST', headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

/** Two pages of one site (one origin), each loading the tracker from the collector and sending to `endpoint`. */
async function serveTwoPages(collectorUrl: string, endpoint: string): Promise<string> {
  const page = (title: string, early: string) => `<!doctype html><html><head><title>${title}</title>
<script>window.twinlane = { q: [['track', '${early}']] };</script>
<script defer src="${collectorUrl}/t.js" data-endpoint="${endpoint}" data-site="web" data-key="wk_web_secret" data-flush-ms="200"></script>
</head><body>${title}</body></html>`;
  const server: Server = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(req.url === '/two' ? page('Two', 'second') : page('One', 'first')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

type Tracker = { track(n: string): void; stats(): { queued: number; dropped: number; attempts: number } };

describe.skipIf(!existsSync(CHROMIUM))('browser tracker (/t.js) in Chromium', () => {
  afterAll(runCleanups);

  it('sends page views (SPA included), custom events and purchases by sendBeacon, without cookies', async () => {
    const config = testConfig();
    const sites = parseSites({ sites: [{ id: 'web', writeKey: 'wk_web_secret', readKey: 'rk_web_secret', allowedOrigins: ['http://127.0.0.1:*'] }] });
    const tc = await startTestCollector(config, { sites });
    const pageUrl = await servePage(tc.url);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    onCleanup(() => browser.close());
    const context = await browser.newContext({ userAgent: CHROME_UA });
    const page = await context.newPage();
    const beacons: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/collect')) beacons.push(r.resourceType());
    });
    await page.goto(pageUrl);
    await page.waitForFunction(() => typeof (window as unknown as { twinlane?: { flush?: unknown } }).twinlane?.flush === 'function');
    await page.evaluate(() => {
      history.pushState({}, '', '/app/settings?tab=1');
      history.replaceState({}, '', '/app/settings?tab=1'); // same URL: no second page view
    });
    await page.waitForTimeout(50);
    await page.evaluate(() => {
      const t = (window as unknown as { twinlane: { track(n: string, p: object): void; purchase(a: number, c: string, p?: object): void } }).twinlane;
      t.track('signup', { plan: 'pro', seats: 3, trial: true, bad: { nested: 1 } });
      t.purchase(19.99, 'eur', { sku: 'A1' });
    });
    // Hiding the page flushes the queue, like a user switching tabs.
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });

    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const events: TwinlaneEvent[] = await Promise.all((await readTopic(config, tc.eventsTopic, 5)).map(async (m) => (await reader.decode(m.value)).event));
    // One visitor, one key, one partition: Kafka keeps the order the tracker sent them in.
    expect(events.map((e) => [e.type, e.name, e.path])).toEqual([
      ['pageview', 'pageview', '/'],
      ['custom', 'early', '/'],
      ['pageview', 'pageview', '/app/settings'],
      ['custom', 'signup', '/app/settings'],
      ['purchase', 'purchase', '/app/settings'],
    ]);
    const [home, early, spa, signup, purchase] = events;
    expect(early!.properties).toEqual({ from: 'queue' });
    expect(spa!.referrer).toBe(`${pageUrl}/`);
    expect(spa!.url).toBe(`${pageUrl}/app/settings?tab=1`);
    expect(signup!.properties).toEqual({ plan: 'pro', seats: '3', trial: 'true' });
    expect(purchase).toMatchObject({ revenue_micros: 19_990_000, currency: 'EUR', properties: { sku: 'A1' } });
    expect(home).toMatchObject({ title: 'Home', browser: 'Chrome', os: 'Linux', device_type: 'desktop', is_bot: false, site_id: 'web' });
    // Cookieless: one derived visitor, one session from sessionStorage, and no cookie at all.
    expect(new Set(events.map((e) => e.visitor_id)).size).toBe(1);
    expect(home!.visitor_id).toMatch(/^h-[0-9a-f]{16}$/);
    expect(new Set(events.map((e) => e.session_id)).size).toBe(1);
    expect(await context.cookies()).toEqual([]);
    expect(beacons.length).toBeGreaterThan(0);
    expect(beacons.every((t) => t === 'ping')).toBe(true); // 'ping' is how Chromium reports sendBeacon
  });

  it('keeps events through a 503 and a dropped connection, retries them on the next page load, and lands each once', async () => {
    const config = testConfig();
    const sites = parseSites({ sites: [{ id: 'web', writeKey: 'wk_web_secret', readKey: 'rk_web_secret', allowedOrigins: ['http://127.0.0.1:*'] }] });
    const tc = await startTestCollector(config, { sites });
    // Retry-After long enough that the test navigates away before the first page retries.
    const proxy = await startFailingProxy(tc.url, 3);
    const site = await serveTwoPages(tc.url, proxy.url);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    onCleanup(() => browser.close());
    const context = await browser.newContext({ userAgent: CHROME_UA });
    const page = await context.newPage();
    const tracker = () => page.evaluate(() => (window as unknown as { twinlane: Tracker }).twinlane.stats());

    await page.goto(`${site}/one`);
    await waitUntil('the first batch to get its 503', () => proxy.seen.length >= 1, 10_000, 20);
    await page.waitForFunction(() => (window as unknown as { twinlane: Tracker }).twinlane.stats().attempts === 1);
    expect(await tracker()).toMatchObject({ queued: 2, attempts: 1 });

    // Leaving while a retry is pending: no beacon; the events wait in sessionStorage for the next page.
    await page.goto(`${site}/two`);
    await waitUntil('the backlog to be sent from the second page, dropped, and sent again', () => proxy.seen.filter((r) => r.outcome === 'forwarded').length >= 1, 20_000, 50);
    await page.waitForFunction(() => (window as unknown as { twinlane: Tracker }).twinlane.stats().queued === 0);
    const [refused, dropped, delivered] = proxy.seen;
    expect(refused!.urls).toEqual([`${site}/one`, `${site}/one`]);
    // Sent from page two (its page view is in it), with page one's events and their ids unchanged.
    expect(dropped!.ids.slice(0, 2)).toEqual(refused!.ids);
    expect(dropped!.urls.slice(2)).toEqual([`${site}/two`, `${site}/two`]);
    expect(delivered!.ids).toEqual(dropped!.ids);

    // With nothing waiting for a retry, hiding the page sends what is queued by sendBeacon.
    await page.evaluate(() => {
      (window as unknown as { twinlane: Tracker }).twinlane.track('leaving');
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    const expectedIds = new Set([...delivered!.ids]);
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const events: TwinlaneEvent[] = await Promise.all((await readTopic(config, tc.eventsTopic, 5)).map(async (m) => (await reader.decode(m.value)).event));
    expect(events.map((e) => [e.type, e.name, e.path])).toEqual([
      ['pageview', 'pageview', '/one'],
      ['custom', 'first', '/one'],
      ['pageview', 'pageview', '/two'],
      ['custom', 'second', '/two'],
      ['custom', 'leaving', '/two'],
    ]);
    for (const id of expectedIds) expect(events.filter((e) => e.event_id === id), `event ${id}`).toHaveLength(1);
    expect(new Set(events.map((e) => e.event_id)).size).toBe(5);
    // Exactly once in Kafka: nothing else arrives after a pause (a late retry would show here).
    await page.waitForTimeout(1_000);
    const admin = kafkaClient(config).admin();
    await admin.connect();
    try {
      expect((await admin.fetchTopicOffsets(tc.eventsTopic)).reduce((n, p) => n + Number(p.high), 0)).toBe(5);
    } finally {
      await admin.disconnect();
    }
    expect(await tracker()).toEqual({ queued: 0, dropped: 0, attempts: 0 });
    expect(proxy.seen.map((r) => r.outcome)).toEqual(['503', 'dropped', 'forwarded', 'forwarded']);
  });
});
