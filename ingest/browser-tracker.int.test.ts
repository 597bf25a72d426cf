/**
 * The tracker in a real browser (the system Chromium, driven by playwright-core): page view on
 * load, a single-page-app navigation, a custom event and a purchase, batched and sent by
 * sendBeacon to a real collector, then read back from Kafka. No cookie is set.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { onCleanup, runCleanups, testConfig } from '../testing/helpers.ts';
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
});
