/**
 * Input refused before authentication can not fill the disk (contract 8): posts without a valid
 * key, forty times the configured budget in bytes, sent together with real traffic to a collector
 * on the real broker. Every one is answered 401; the dead-letter topic (what the dead-letter store
 * archives) receives at most the budget, as samples that say so; every real event is on the events
 * topic; an authenticated site's refused request is still kept whole.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, kafkaClient } from '../testing/helpers.ts';
import { DLQ_HEADERS } from '../dlq/index.ts';
import { readTopics, startTestCollector } from './testing/collector.fixture.ts';

const config = testConfig();
const BUDGET = 256 * 1024;
const SAMPLE = 64 * 1024;

afterAll(runCleanups);

async function endOffsets(topic: string): Promise<number> {
  const admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

describe('keyless input budget', () => {
  it('keeps a sample within the budget of 40× its size in keyless posts, while real traffic is complete', async () => {
    const tc = await startTestCollector(config, { tweak: (o) => (o.keyless = { budgetBytes: BUDGET, sampleBytes: SAMPLE, perSite: 10 }) });
    const junk = Buffer.alloc(256 * 1024, 'x');
    const keyless = Array.from({ length: 40 }, (_, i) =>
      fetch(`${tc.url}/v1/collect?site=${i % 2 ? 'alpha' : `made-up-${i}`}&key=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: junk }).then((r) => r.status),
    );
    const real = Array.from({ length: 20 }, (_, i) =>
      fetch(`${tc.url}/v1/collect?site=alpha&key=wk_alpha_secret`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: 5 }, (_, j) => ({ type: 'pageview', url: `https://alpha.example/p${i}-${j}`, visitor: `v${i}`, session: `s${i}`, ts: Date.now() - 1_000 }))),
      }).then((r) => r.status),
    );
    const [refused, accepted] = [await Promise.all(keyless), await Promise.all(real)];
    expect(new Set(refused)).toEqual(new Set([401]));
    expect(accepted.every((s) => s === 200 || s === 202), String(accepted)).toBe(true);

    const kept = BUDGET / SAMPLE;
    const read = await readTopics(config, { [tc.dlqTopic]: kept, [tc.eventsTopic]: 100 });
    expect(await endOffsets(tc.dlqTopic), 'dead letters written').toBe(kept);
    const letters = read[tc.dlqTopic]!;
    expect(letters.reduce((n, m) => n + m.value.length, 0)).toBeLessThanOrEqual(BUDGET);
    for (const m of letters) {
      expect(m.headers[DLQ_HEADERS.code]?.toString()).toBe('UNAUTHORIZED');
      expect(m.headers[DLQ_HEADERS.message]?.toString()).toMatch(/first 65536 of 262144 bytes kept; refused before authentication: a sample/);
    }
    expect(await endOffsets(tc.eventsTopic)).toBe(100);
  });

  it("still keeps an authenticated site's refused request whole", async () => {
    const tc = await startTestCollector(config, { tweak: (o) => (o.keyless = { budgetBytes: 1, sampleBytes: 1, perSite: 0 }) });
    const body = `{"type":"pageview", broken ${'y'.repeat(100_000)}`;
    const r = await fetch(`${tc.url}/v1/collect?site=alpha&key=wk_alpha_secret`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(r.status).toBe(400);
    const [letter] = (await readTopics(config, { [tc.dlqTopic]: 1 }))[tc.dlqTopic]!;
    expect(letter!.value.toString()).toBe(body);
  });
});
