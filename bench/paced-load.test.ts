import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantile } from './figures.ts';
import { pacedLoad } from './paced-load.ts';

/** A server that answers at once, except that the 50th request holds its event loop for 150 ms. */
let server: Server;
let url: string;
let seen = 0;
const STALL_MS = 150;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (++seen === 50) {
      const until = performance.now() + STALL_MS;
      while (performance.now() < until) {
        /* a stall, as a long GC or a blocking call would make it */
      }
    }
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('paced load', () => {
  it('sends at a steady rate and counts latency from when each request was due', async () => {
    seen = 0;
    const r = await pacedLoad({ url, requests: [{ path: '/a' }, { path: '/b' }], rate: 200, seconds: 1, connections: 10 });
    expect(r.sent).toBe(200);
    expect(r.errors).toBe(0);
    expect(r.servedRps).toBeGreaterThan(150);
    expect(r.servedRps).toBeLessThan(230);
    // The stall holds up every request due during it (about 30 at 200/s), each counted from its due
    // time: a closed-loop client would record it in the ten requests in flight only.
    expect(r.max).toBeGreaterThanOrEqual(STALL_MS * 0.8);
    expect(r.p90).toBeGreaterThan(20);
    expect(r.p50).toBeLessThan(STALL_MS);
  }, 30_000);

  it('counts answers other than 2xx as errors', async () => {
    const r = await pacedLoad({ url, requests: [{ path: '/missing' }, { path: '/a' }], rate: 100, seconds: 0.5, connections: 4 });
    expect(r.sent).toBe(50);
    expect(r.errors).toBe(25);
  }, 30_000);

  it('takes the nearest-rank quantile', () => {
    const xs = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(quantile(xs, 0.5)).toBe(5);
    expect(quantile(xs, 0.9)).toBe(9);
    expect(quantile(xs, 0.99)).toBe(10);
    expect(quantile(new Float64Array(0), 0.5)).toBeNaN();
  });
});
