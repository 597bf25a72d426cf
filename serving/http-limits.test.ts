/**
 * The connection, request and header limits of our HTTP servers (core/http-limits.ts), on a real
 * listening serving app with small limits: an oversized header block is a 431, a client that
 * trickles its headers is cut near the headers timeout, and an idle keep-alive socket is closed.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

let s: ServingApp;
let port = 0;

beforeAll(async () => {
  const speed = new MemoryViewReader({ source: 'speed', events: [], coverage: {} });
  s = await buildServingApp({
    batch: { current: async () => null },
    speed,
    sites: parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: 'rk_shop_0123456789' }] }),
    httpLimits: { requestTimeoutMs: 4_000, headersTimeoutMs: 1_500, keepAliveTimeoutMs: 1_000, idleTimeoutMs: 10_000, maxHeaderBytes: 4_096, maxHeadersCount: 50 },
  });
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  port = (s.app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await s?.app.close();
});

/** Opens a socket, writes `text`, and resolves with what came back and when the server closed it. */
function exchange(text: string, waitMs: number): Promise<{ data: string; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    let closedAfterMs: number | null = null;
    socket.on('data', (d) => (data += d.toString()));
    socket.on('close', () => {
      closedAfterMs = Date.now() - t0;
      resolve({ data, closedAfterMs });
    });
    socket.on('error', () => undefined);
    setTimeout(() => {
      socket.destroy();
      resolve({ data, closedAfterMs });
    }, waitMs);
  });
}

describe('HTTP limits', () => {
  it('answers 431 to a header block over the limit', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-padding': 'p'.repeat(8_000) } });
    expect(r.status).toBe(431);
  });

  it('cuts a client that trickles its headers, near the headers timeout', async () => {
    const r = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\n', 8_000);
    expect(r.closedAfterMs, 'closed by the server').not.toBeNull();
    expect(r.closedAfterMs!).toBeGreaterThanOrEqual(1_000);
    expect(r.closedAfterMs!).toBeLessThan(6_000);
  });

  it('closes an idle keep-alive socket after its timeout', async () => {
    const r = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 8_000);
    expect(r.data).toMatch(/^HTTP\/1\.1 200/);
    expect(r.closedAfterMs, 'closed by the server').not.toBeNull();
    expect(r.closedAfterMs!).toBeLessThan(6_000);
  });
});
