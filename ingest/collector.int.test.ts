import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { fromMessage, redactLetter } from '../dlq/index.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { readTopic, readTopics, startTestCollector } from './testing/collector.fixture.ts';
import { runLoad } from '../traffic/index.ts';
import { TEST_SITES } from './testing/pipeline.fixture.ts';

type Truth = { kind: 'accepted'; event: TwinlaneEvent } | { kind: 'rejected'; site_id: string; expected_code: string; code: string; field: string; payload: string };

describe('collector → real Kafka and schema registry', () => {
  afterAll(runCleanups);
  const config = testConfig();

  it('stores exactly the ground truth of generated traffic, Confluent-framed with the registered schema id', async () => {
    const tc = await startTestCollector(config);
    const truthFile = join(tempDir('truth'), 'truth.ndjson');
    const started = Date.now();
    const summary = await runLoad({
      collectorUrl: tc.url,
      sites: TEST_SITES.map((id) => ({ id, writeKey: `wk_${id}_secret` })),
      events: 2000,
      seed: 42,
      rate: 0,
      batchSize: 50,
      concurrency: 8,
      malformedFraction: 0.05,
      from: started - 3_600_000,
      to: started,
      truthFile,
    });
    expect(summary, JSON.stringify(summary)).toMatchObject({ events: 2000, failed: 0, unexpected: 0 });
    expect(summary.malformedSent).toBeGreaterThan(50);
    const truth = readFileSync(truthFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Truth);
    const accepted = new Map(truth.flatMap((t) => (t.kind === 'accepted' ? [[t.event.event_id, t.event] as const] : [])));
    const rejected = truth.filter((t): t is Extract<Truth, { kind: 'rejected' }> => t.kind === 'rejected');
    expect(accepted.size + rejected.length).toBe(2000);

    const res = await fetch(new URL(`/subjects/${tc.eventsTopic}-value/versions/latest`, config.SCHEMA_REGISTRY_URL));
    const registered = (await res.json()) as { id: number };
    const read = await readTopics(config, { [tc.eventsTopic]: accepted.size, [tc.dlqTopic]: rejected.length });
    const messages = read[tc.eventsTopic]!;
    // At-least-once: a request answered 503 and retried may have landed the first time too.
    if (summary.retries === 0) expect(messages).toHaveLength(accepted.size);
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const partitionOf = new Map<string, number>();
    const seen = new Set<string>();
    for (const m of messages) {
      expect(m.value[0]).toBe(0);
      expect(m.value.readUInt32BE(1)).toBe(registered.id);
      const { event } = await reader.decode(m.value);
      if (!accepted.has(event.event_id) && summary.retries > 0 && seen.has(event.event_id)) continue; // a retried duplicate
      seen.add(event.event_id);
      const expected = accepted.get(event.event_id);
      expect(expected, `unexpected event ${event.event_id}`).toBeDefined();
      expect({ ...event, received_time: null, ip_hash: null }).toEqual(expected);
      expect(event.received_time).toBeGreaterThanOrEqual(started);
      expect(event.ip_hash).toMatch(/^[0-9a-f]{16}$/);
      expect(m.key).toBe(`${event.site_id}:${event.visitor_id}`);
      expect(Number(m.timestamp)).toBe(event.event_time);
      // One visitor, one partition: its events stay in order.
      expect(partitionOf.get(m.key!) ?? m.partition).toBe(m.partition);
      partitionOf.set(m.key!, m.partition);
      accepted.delete(event.event_id);
    }
    expect(accepted.size).toBe(0);

    const letters = read[tc.dlqTopic]!.map((m) => fromMessage(m.value, m.headers));
    expect(letters).toHaveLength(rejected.length);
    // Several malformed events can have the same bytes (e.g. a bare string): match them as a multiset.
    const pool = new Map<string, number>();
    for (const l of letters) {
      expect(l).toMatchObject({ stage: 'validate', payloadFormat: 'json', attempts: 1 });
      const k = `${l.siteId}|${l.code}|${l.field}|${l.payload.toString('utf8')}`;
      pool.set(k, (pool.get(k) ?? 0) + 1);
    }
    for (const r of rejected) {
      // Stored as the dead-letter writer redacts it (no raw PII at rest).
      const k = `${r.site_id}|${r.expected_code}|${r.field}|${redactLetter({ payload: Buffer.from(r.payload), payloadFormat: 'json', message: '' }).payload.toString('utf8')}`;
      expect(pool.get(k), `dead letter of ${r.payload.slice(0, 80)}`).toBeGreaterThan(0);
      pool.set(k, pool.get(k)! - 1);
    }
  });

  it('takes sendBeacon text/plain, gzip, and a single event object', async () => {
    const tc = await startTestCollector(config);
    const post = (body: Buffer | string, headers: Record<string, string>) => fetch(`${tc.url}/v1/collect?site=alpha&key=wk_alpha_secret`, { method: 'POST', body: body as unknown as BodyInit, headers });
    const ev = (path: string) => ({ type: 'pageview', url: `https://alpha.example${path}`, visitor: 'v', session: 's' });
    const r1 = await post(JSON.stringify([ev('/beacon')]), { 'content-type': 'text/plain;charset=UTF-8' });
    const r2 = await post(gzipSync(JSON.stringify([ev('/gz1'), ev('/gz2')])), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    const r3 = await post(JSON.stringify(ev('/single')), { 'content-type': 'application/json; charset=utf-8' });
    expect([r1.status, r2.status, r3.status]).toEqual([202, 202, 202]);
    expect(await r2.json()).toEqual({ accepted: 2, rejected: [] });
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const paths = await Promise.all((await readTopic(config, tc.eventsTopic, 4)).map(async (m) => (await reader.decode(m.value)).event.path));
    expect(paths.sort()).toEqual(['/beacon', '/gz1', '/gz2', '/single']);
  });

  it('serves the tracker, CORS preflight per site, health and metrics', async () => {
    const tc = await startTestCollector(config);
    const t = await fetch(`${tc.url}/t.js`);
    expect(t.status).toBe(200);
    expect(t.headers.get('content-type')).toMatch(/javascript/);
    expect(await t.text()).toContain('sendBeacon');
    const preflight = (origin: string) => fetch(`${tc.url}/v1/collect?site=alpha&key=x`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    const okPre = await preflight('https://alpha.example');
    expect(okPre.status).toBe(204);
    expect(okPre.headers.get('access-control-allow-origin')).toBe('https://alpha.example');
    expect((await preflight('https://evil.example')).status).toBe(403);
    expect((await fetch(`${tc.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${tc.url}/metrics`)).text();
    expect(metrics).toContain('twinlane_collector_requests_total');
  });
});
