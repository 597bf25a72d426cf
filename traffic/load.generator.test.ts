import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from './load.generator.ts';
import { testPipeline } from '../ingest/testing/pipeline.fixture.ts';
import type { EventPipeline } from '../ingest/index.ts';

/** A stand-in collector (unit test): the real pipeline behind a bare HTTP server, no Kafka. */
let url = '';
let pipeline: EventPipeline;
const seen: { ua: string | undefined; xff: string | undefined; site: string | null }[] = [];
const server = createServer((req: IncomingMessage, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    // Like the collector: site and key from the query string or, as the SDK's transport sends them, from headers.
    const q = new URL(req.url!, 'http://x').searchParams;
    const site = q.get('site') ?? (req.headers['x-twinlane-site'] as string | undefined) ?? null;
    const key = q.get('key') ?? (req.headers['x-twinlane-key'] as string | undefined) ?? '';
    seen.push({ ua: req.headers['user-agent'], xff: req.headers['x-forwarded-for'] as string | undefined, site });
    const events = JSON.parse(Buffer.concat(chunks).toString()) as unknown[];
    const rejected = events.flatMap((e, index) => {
      const o = pipeline.processValue(e, { siteId: site!, writeKey: key, ip: req.headers['x-forwarded-for'] as string, userAgent: req.headers['user-agent'], receivedAt: Date.now() });
      return o.kind === 'dead-letter' ? [{ index, code: o.code, field: o.field, message: o.message }] : [];
    });
    res.writeHead(rejected.length === events.length ? 400 : 202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: events.length - rejected.length, rejected }));
  });
});

describe('load generator', () => {
  beforeAll(async () => {
    pipeline = (await testPipeline()).pipeline;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends per-client batches at the target rate, with the chosen share of malformed events, and writes the ground truth', async () => {
    const truthFile = join(mkdtempSync(join(tmpdir(), 'loadgen-')), 'truth.ndjson');
    const now = Date.now();
    const t0 = Date.now();
    const summary = await runLoad({
      collectorUrl: url,
      sites: ['alpha', 'beta'].map((id) => ({ id, writeKey: `wk_${id}_secret` })),
      events: 1500,
      seed: 9,
      rate: 3000,
      batchSize: 40,
      concurrency: 4,
      malformedFraction: 0.1,
      from: now - 600_000,
      to: now,
      truthFile,
    });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThan(400); // 1,500 events at 3,000/s: about half a second, not as fast as possible
    expect(summary).toMatchObject({ events: 1500, failed: 0, unexpected: 0, retries: 0 });
    expect(summary.malformedSent).toBeGreaterThan(100);
    expect(summary.malformedSent).toBeLessThan(200);
    expect(summary.rejected).toBe(summary.malformedSent);
    expect(summary.accepted + summary.rejected).toBe(1500);
    const lines = readFileSync(truthFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; code?: string; expected_code?: string });
    expect(lines).toHaveLength(1500);
    expect(lines.filter((l) => l.kind === 'rejected').every((l) => l.code === l.expected_code)).toBe(true);
    // Every request is one client: a real user agent and a forwarded IP, for one site.
    expect(seen.every((s) => s.ua?.startsWith('Mozilla/5.0') && /^\d+\.\d+\.\d+\.\d+$/.test(s.xff ?? '') && (s.site === 'alpha' || s.site === 'beta'))).toBe(true);
  });

  it('is deterministic: the same seed sends the same events', async () => {
    const run = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'loadgen-'));
      await runLoad({ collectorUrl: url, sites: [{ id: 'alpha', writeKey: 'wk_alpha_secret' }], events: 200, seed: 4, rate: 0, batchSize: 25, concurrency: 1, malformedFraction: 0.05, from: Date.now() - 60_000, to: Date.now(), truthFile: join(dir, 't.ndjson') });
      return readFileSync(join(dir, 't.ndjson'), 'utf8').split('\n').map((l) => (l ? (JSON.parse(l) as { event?: { event_id: string } }).event?.event_id ?? 'rejected' : '')).join();
    };
    expect(await run()).toBe(await run());
  });
});
