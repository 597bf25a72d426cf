/**
 * The collector answers 202 only for events Kafka acknowledged: without Kafka it answers 503
 * with Retry-After, and a collector stopped mid-traffic loses none of the events it accepted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/processes.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { runCleanups, testConfig } from '../testing/helpers.ts';
import { readTopic, startTestCollector } from './testing/collector.fixture.ts';

const config = testConfig();

/** A port nothing listens on: the broker address of a Kafka that is down. */
const deadPort = freePort;

const body = (n: number, tag: string) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ type: 'pageview', url: `https://alpha.example/${tag}/${i}`, visitor: `v${i}`, session: 's' })));
const post = (url: string, b: string) => fetch(`${url}/v1/collect?site=alpha&key=wk_alpha_secret`, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } });

describe('Kafka unreachable', () => {
  afterAll(runCleanups);

  it('answers 503 with Retry-After, fast, and is not ready', async () => {
    const tc = await startTestCollector(config, { brokers: [`127.0.0.1:${await deadPort()}`], tweak: (o) => Object.assign(o.producer, { ackTimeoutMs: 5_000, cooldownMs: 60_000 }) });
    expect((await fetch(`${tc.url}/readyz`)).status).toBe(503); // it started, but never reached Kafka
    const first = await post(tc.url, body(3, 'down'));
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(await first.json()).toMatchObject({ accepted: 0, error: { code: 'KAFKA_UNAVAILABLE', message: expect.stringMatching(/retry later/) } });
    // Right after a failure, requests fail fast instead of piling up behind a dead broker.
    const t0 = Date.now();
    const second = await post(tc.url, body(1, 'down'));
    expect(second.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(500);
    expect((await fetch(`${tc.url}/readyz`)).status).toBe(503);
  });
});

describe('stopping under load', () => {
  afterAll(runCleanups);

  it('every event answered 202 is in Kafka, exactly once', async () => {
    const tc = await startTestCollector(config);
    // Keep traffic flowing from 8 clients until the collector is gone.
    const results: { tag: string; status: number }[] = [];
    let n = 0;
    let stopping = false;
    const client = async () => {
      while (!stopping) {
        const tag = `r${n++}`;
        const status = await post(tc.url, body(20, tag)).then((r) => r.status, () => 0); // 0: refused once closed; the client keeps the events
        results.push({ tag, status });
        if (status !== 202) return; // the collector is closing
      }
    };
    const clients = Array.from({ length: 8 }, client);
    while (results.filter((r) => r.status === 202).length < 10) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await tc.collector.stop();
    stopping = true;
    expect(Date.now() - t0, 'stop drains within seconds').toBeLessThan(15_000);
    await Promise.all(clients);
    const acceptedTags = new Set(results.filter((r) => r.status === 202).map((r) => r.tag));
    expect(results.every((r) => [202, 503, 0].includes(r.status))).toBe(true);
    expect(acceptedTags.size).toBeGreaterThan(0);
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const landed = await readTopic(config, tc.eventsTopic, acceptedTags.size * 20);
    const paths = await Promise.all(landed.map(async (m) => (await reader.decode(m.value)).event.path));
    expect(new Set(paths).size).toBe(paths.length);
    for (const tag of acceptedTags) for (let i = 0; i < 20; i++) expect(paths).toContain(`/${tag}/${i}`);
  });
});
