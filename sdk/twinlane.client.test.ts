/**
 * The SDK against a scripted collector: an in-process node:http server that answers each
 * request as the test says (202, 503 with Retry-After, 429 with an HTTP date, 500, 4xx, a
 * dropped connection). Pure: no Kafka. Back-off is shortened by the options, not by fake timers,
 * so the real fetch, sockets and timers are what is tested.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { validateEvent } from '../ingest/index.ts';
import { CollectTransport, TwinlaneClient, TwinlaneSdkError, parseRetryAfter, type ClientOptionsInput, type WireEvent } from './index.ts';
import { backoffDelay, retryAfterDelay, verdictOf } from './retry.policy.ts';

interface Received {
  events: WireEvent[];
  headers: IncomingHttpHeaders;
  at: number;
}
type Reply = { status: number; headers?: Record<string, string>; body?: unknown } | 'drop';
type Script = (req: Received, index: number) => Reply;

const accept: Script = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
const servers: Server[] = [];

async function collector(script: Script = accept): Promise<{ url: string; requests: Received[] }> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = { events: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WireEvent[], headers: req.headers, at: Date.now() };
      requests.push(received);
      const reply = script(received, requests.length - 1);
      if (reply === 'drop') {
        req.socket.destroy(); // no answer at all: the client cannot know whether it landed
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

function client(url: string, over: Partial<ClientOptionsInput> = {}): { c: TwinlaneClient; errors: TwinlaneSdkError[] } {
  const errors: TwinlaneSdkError[] = [];
  const c = new TwinlaneClient({ endpoint: url, site: 'shop', writeKey: 'wk_shop', flushIntervalMs: 0, retry: { initialDelayMs: 10, maxDelayMs: 40 }, onError: (e) => errors.push(e), ...over });
  return { c, errors };
}

const PAGE = { url: 'https://shop.example/pricing?utm_source=news' };
const ids = (reqs: Received[]) => reqs.flatMap((r) => r.events.map((e) => e.id));

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

describe('TwinlaneClient', () => {
  it('sends typed events the collector validates, in batches, with ids made at track time', async () => {
    const { url, requests } = await collector();
    const { c, errors } = client(url, { batchSize: 100 });
    const tracked: string[] = [];
    for (let i = 0; i < 250; i++) {
      if (i % 3 === 0) tracked.push(c.pageview({ ...PAGE, visitor: `v${i % 7}`, title: 'Pricing', referrer: null, screenWidth: 1440 }));
      else if (i % 3 === 1) tracked.push(c.track('signup', { ...PAGE, props: { plan: 'pro', seats: 3, trial: true }, timestamp: new Date(1_760_000_000_000 + i) }));
      else tracked.push(c.purchase(19.99, 'eur', { ...PAGE, session: 's1', props: { sku: 'A1' } }));
    }
    await c.flush();
    expect(requests.map((r) => r.events.length)).toEqual([100, 100, 50]);
    expect(ids(requests)).toEqual(tracked); // in order, once each
    expect(new Set(tracked).size).toBe(250);
    for (const e of requests.flatMap((r) => r.events)) expect(validateEvent(e), JSON.stringify(e)).toMatchObject({ kind: 'ok' });
    expect(requests[0]!.events[2]).toMatchObject({ type: 'purchase', revenue: 19.99, currency: 'EUR' });
    expect(requests[0]!.events[1]!.ts).toBe(1_760_000_000_001);
    expect(requests[0]!.headers).toMatchObject({ 'x-twinlane-site': 'shop', 'x-twinlane-key': 'wk_shop', 'content-type': 'application/json', 'user-agent': '' });
    expect(c.stats()).toMatchObject({ queued: 0, accepted: 250, rejected: 0, failed: 0, dropped: 0, requests: 3, retries: 0 });
    expect(errors).toEqual([]);
  });

  it('waits for Retry-After (seconds) on 503 and resends the same events with the same ids', async () => {
    const { url, requests } = await collector((r, i) => (i === 0 ? { status: 503, headers: { 'retry-after': '1' }, body: { error: { code: 'KAFKA_UNAVAILABLE', message: 'kafka down' } } } : accept(r, i)));
    const retries: number[] = [];
    const { c, errors } = client(url, { onRetry: (info) => retries.push(info.delayMs) });
    c.track('a', PAGE);
    c.track('b', PAGE);
    await c.flush();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(990);
    expect(retries[0]).toBeGreaterThanOrEqual(1000);
    expect(requests[1]!.events).toEqual(requests[0]!.events);
    expect(c.stats()).toMatchObject({ accepted: 2, retries: 1, requests: 2 });
    expect(errors).toEqual([]);
  });

  it('honours Retry-After as an HTTP date on 429', async () => {
    let waitUntil = 0;
    const { url, requests } = await collector((r, i) => {
      if (i > 0) return accept(r, i);
      // HTTP dates have whole seconds: the next second boundary at least 600 ms away.
      waitUntil = Math.ceil((Date.now() + 600) / 1000) * 1000;
      return { status: 429, headers: { 'retry-after': new Date(waitUntil).toUTCString() } };
    });
    const { c } = client(url);
    c.pageview(PAGE);
    await c.flush();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.at).toBeGreaterThanOrEqual(waitUntil - 20);
  });

  it('retries a dropped connection (the request may have landed) with the same ids', async () => {
    const { url, requests } = await collector((r, i) => (i === 0 ? 'drop' : accept(r, i)));
    const reasons: string[] = [];
    const { c, errors } = client(url, { onRetry: (info) => reasons.push(`${info.status} ${info.reason}`) });
    const id = c.track('checkout', PAGE);
    await c.flush();
    expect(ids(requests)).toEqual([id, id]);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^0 network error/);
    expect(c.stats()).toMatchObject({ accepted: 1, retries: 1, failed: 0 });
    expect(errors).toEqual([]);
  });

  it('backs off exponentially on a 500 without Retry-After', async () => {
    const { url, requests } = await collector((r, i) => (i < 3 ? { status: 500 } : accept(r, i)));
    const delays: { delayMs: number; fromRetryAfter: boolean }[] = [];
    const { c } = client(url, { retry: { initialDelayMs: 20, maxDelayMs: 1_000 }, onRetry: (i) => delays.push(i) });
    c.pageview(PAGE);
    await c.flush();
    expect(requests).toHaveLength(4);
    expect(delays.every((d) => !d.fromRetryAfter)).toBe(true);
    delays.forEach((d, i) => {
      expect(d.delayMs).toBeGreaterThanOrEqual((20 * 2 ** i) / 2);
      expect(d.delayMs).toBeLessThanOrEqual(20 * 2 ** i);
    });
  });

  it('never retries another 4xx: the events are reported as REQUEST_REFUSED', async () => {
    const { url, requests } = await collector(() => ({ status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'wrong write key' } } }));
    const { c, errors } = client(url);
    c.track('a', PAGE);
    c.track('b', PAGE);
    await c.flush();
    expect(requests).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'REQUEST_REFUSED', status: 401, retriable: false });
    expect(errors[0]!.message).toContain('UNAUTHORIZED');
    expect(errors[0]!.events.map((e) => e.type === 'custom' && e.name)).toEqual(['a', 'b']);
    expect(c.stats()).toMatchObject({ failed: 2, accepted: 0 });
  });

  it('reports events the collector refused one by one, without resending them (202 and 400 ALL_REJECTED)', async () => {
    const rejected = (index: number) => ({ index, code: 'SCHEMA_VIOLATION', field: 'url', message: 'url: expected an absolute http(s) URL' });
    const { url, requests } = await collector((r, i) => (i === 0 ? { status: 202, body: { accepted: 1, rejected: [rejected(1)] } } : { status: 400, body: { accepted: 0, rejected: [rejected(0)], error: 'ALL_REJECTED' } }));
    const delivered: number[] = [];
    const { c, errors } = client(url, { batchSize: 2, onDelivered: (d) => delivered.push(d.answer.accepted) });
    c.pageview(PAGE);
    const bad = c.pageview({ url: '/relative' });
    const alsoBad = c.pageview({ url: 'nope' });
    await c.flush();
    expect(requests).toHaveLength(2);
    expect(errors.map((e) => [e.code, e.status, e.events.map((ev) => ev.id), e.rejections.map((r) => r.code)])).toEqual([
      ['EVENTS_REJECTED', 202, [bad], ['SCHEMA_VIOLATION']],
      ['EVENTS_REJECTED', 400, [alsoBad], ['SCHEMA_VIOLATION']],
    ]);
    expect(delivered).toEqual([1, 0]);
    expect(c.stats()).toMatchObject({ accepted: 1, rejected: 2, failed: 0, retries: 0 });
  });

  it('gives up after maxAttempts and reports RETRIES_EXHAUSTED', async () => {
    const { url, requests } = await collector(() => ({ status: 503, headers: { 'retry-after': '0' } }));
    const { c, errors } = client(url, { retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 10 } });
    c.pageview(PAGE);
    await c.flush();
    expect(requests).toHaveLength(3);
    expect(errors.map((e) => [e.code, e.status, e.retriable, e.events.length])).toEqual([['RETRIES_EXHAUSTED', 503, true, 1]]);
    expect(c.stats()).toMatchObject({ failed: 1, requests: 3, retries: 2 });
  });

  it('keeps a bounded queue: the oldest events are dropped and counted, QUEUE_FULL reported once', async () => {
    const { url, requests } = await collector();
    const { c, errors } = client(url, { maxQueue: 5, batchSize: 5 });
    const tracked = Array.from({ length: 8 }, (_, i) => c.track(`e${i}`, PAGE)); // not started: nothing leaves yet
    expect(c.dropped).toBe(3);
    expect(errors.map((e) => [e.code, e.events.length])).toEqual([['QUEUE_FULL', 1]]);
    await c.flush();
    expect(ids(requests)).toEqual(tracked.slice(3));
    expect(c.stats()).toMatchObject({ queued: 0, accepted: 5, dropped: 3 });
  });

  it('sends full batches at once after start(), partial ones every flushIntervalMs, and stop() flushes', async () => {
    const { url, requests } = await collector();
    const { c } = client(url, { batchSize: 3, flushIntervalMs: 60_000 });
    c.start();
    c.start(); // twice is harmless
    for (let i = 0; i < 3; i++) c.pageview(PAGE);
    await expect.poll(() => requests.length, { timeout: 5_000, interval: 5 }).toBe(1); // a full batch does not wait for the timer
    c.pageview(PAGE);
    await new Promise((r) => setTimeout(r, 200));
    expect(requests).toHaveLength(1); // a partial batch does
    await c.stop();
    await c.stop();
    expect(requests.map((r) => r.events.length)).toEqual([3, 1]);

    const { c: ticking } = client(url, { batchSize: 3, flushIntervalMs: 50 });
    ticking.start();
    ticking.pageview(PAGE);
    await expect.poll(() => requests.length, { timeout: 5_000, interval: 10 }).toBe(3);
    await ticking.stop();
  });

  it('stop() gives up after shutdownTimeoutMs when the collector stays unavailable', async () => {
    const { url } = await collector(() => ({ status: 503, headers: { 'retry-after': '5' } }));
    const { c, errors } = client(url, { shutdownTimeoutMs: 300, batchSize: 2 });
    c.start();
    for (let i = 0; i < 5; i++) c.pageview(PAGE);
    const t0 = Date.now();
    await c.stop();
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(errors.every((e) => e.code === 'SHUTDOWN_TIMEOUT')).toBe(true);
    expect(errors.flatMap((e) => e.events)).toHaveLength(5);
    expect(c.stats()).toMatchObject({ queued: 0, inFlight: 0, failed: 5 });
  });

  it('puts events of different user agents and addresses in different requests, with those headers', async () => {
    const { url, requests } = await collector();
    const { c } = client(url);
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
    c.pageview({ ...PAGE, userAgent: chrome, ip: '146.78.161.249' });
    c.pageview({ ...PAGE });
    c.pageview({ ...PAGE, userAgent: chrome, ip: '146.78.161.249' });
    await c.flush();
    expect(requests.map((r) => [r.events.length, r.headers['user-agent'], r.headers['x-forwarded-for']])).toEqual([
      [2, chrome, '146.78.161.249'],
      [1, '', undefined],
    ]);
  });

  it('refuses bad options naming every wrong field', () => {
    expect(() => new TwinlaneClient({ endpoint: 'ftp://x', site: '', writeKey: 'k', batchSize: 0 })).toThrowError(/endpoint: expected an http\(s\) URL[\s\S]*site: expected the site id[\s\S]*batchSize: expected a whole number/);
    expect(() => new TwinlaneClient({ endpoint: 'http://x', site: 's', writeKey: 'k', maxQueue: 10, batchSize: 20 })).toThrowError(/batchSize: must not exceed maxQueue/);
    const c = new TwinlaneClient({ endpoint: 'http://x', site: 's', writeKey: 'k' });
    expect(c.options).toMatchObject({ batchSize: 100, flushIntervalMs: 1_000, maxQueue: 10_000, retry: { maxAttempts: 10, initialDelayMs: 500, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 } });
  });
});

describe('CollectTransport', () => {
  it('sends a caller-built body as is and returns the answer with every attempt status', async () => {
    const { url, requests } = await collector((r, i) => (i === 0 ? { status: 503, headers: { 'retry-after': '0' } } : i === 1 ? 'drop' : accept(r, i)));
    const t = new CollectTransport({ endpoint: url, retry: { initialDelayMs: 5, maxDelayMs: 5 } });
    const result = await t.send(JSON.stringify([{ type: 'pageview', url: PAGE.url }]), { site: 'shop', writeKey: 'k', headers: { 'user-agent': 'UA', 'x-forwarded-for': '1.2.3.4' } });
    expect(result).toMatchObject({ kind: 'answered', status: 202, attempts: 3, statuses: [503, 0, 202], answer: { accepted: 1, rejected: [] } });
    expect(requests.map((r) => r.headers['user-agent'])).toEqual(['UA', 'UA', 'UA']);
  });
});

describe('retry policy', () => {
  it('reads Retry-After as seconds or an HTTP date, and nothing else', () => {
    const now = Date.parse('2026-03-14T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('2026', now)).toBe(2_026_000); // delay-seconds, however large (the transport caps it)
    expect(parseRetryAfter('Sat, 14 Mar 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sat, 14 Mar 2026 09:00:00 GMT', now)).toBe(0); // in the past: now
    for (const bad of [null, undefined, '', '-1', '1.5', '2026-03-14', 'soon']) expect(parseRetryAfter(bad, now), String(bad)).toBeUndefined();
  });

  it('retries 429 and 5xx, never another 4xx; a 400 with per-event results is final', () => {
    expect([200, 202, 400, 401, 403, 404, 408, 413, 415, 429, 500, 502, 503].map((s) => verdictOf(s, false))).toEqual(['done', 'done', 'refused', 'refused', 'refused', 'refused', 'refused', 'refused', 'refused', 'retry', 'retry', 'retry', 'retry']);
    expect(verdictOf(400, true)).toBe('done');
  });

  it('jitters the back-off between half and all of the capped exponential, and Retry-After by at most 10 %', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffDelay(n, 100, 500, () => 0))).toEqual([50, 100, 200, 250, 250]);
    expect([1, 2, 3, 4, 10].map((n) => backoffDelay(n, 100, 500, () => 1))).toEqual([100, 200, 400, 500, 500]);
    expect(retryAfterDelay(2_000, 60_000, () => 1)).toBe(2_200);
    expect(retryAfterDelay(120_000, 60_000, () => 0)).toBe(60_000);
  });
});
