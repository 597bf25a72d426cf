/**
 * Several collector processes give a visitor the same cookieless id: the real entry point run
 * twice (configured from the environment), requests alternating between the two, and the events
 * read back from Kafka. The hashing salts come from Redis (ingest/shared-salts.int.test.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { collectorProcessEnv, readTopic } from '../ingest/testing/collector.fixture.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { runCleanups, testConfig } from '../testing/helpers.ts';
import { startEntry } from '../testing/processes.ts';

const config = testConfig();

describe('cookieless visitor ids across collector processes', () => {
  afterAll(runCleanups, 30_000);

  it('two collector processes, requests alternating between them, give each visitor one id and one IP hash', async () => {
    const { site, writeKey, topic, env } = collectorProcessEnv('salts', { COLLECTOR_PORT: '0', COLLECTOR_PROCESSES: '1', COLLECTOR_RATE_LIMIT_SITE: 'off' });
    const [a, b] = await Promise.all([startEntry('apps/collector.main.ts', env, 'collector_listening'), startEntry('apps/collector.main.ts', env, 'collector_listening')]);
    expect(a.child.pid).not.toBe(b.child.pid);
    const visitors = [
      { ip: '203.0.113.7', ua: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' },
      { ip: '198.51.100.4', ua: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' },
    ];
    const sent: { visitor: number; process: 'a' | 'b'; path: string }[] = [];
    for (let i = 0; i < 8; i++) {
      const p = i % 2 === 0 ? a : b;
      const visitor = Math.floor(i / 2) % 2;
      const path = `/r${i}`;
      const res = await fetch(`${String(p.line.url)}/v1/collect?site=${site}&key=${writeKey}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': visitors[visitor]!.ua, 'x-forwarded-for': visitors[visitor]!.ip },
        body: JSON.stringify({ type: 'pageview', url: `https://x.example${path}` }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      sent.push({ visitor, process: p === a ? 'a' : 'b', path });
    }
    const codec = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic);
    const events = await Promise.all((await readTopic(config, topic, sent.length)).map(async (m) => (await codec.decode(m.value)).event));
    const byPath = new Map(events.map((e) => [e.path, e]));
    for (const v of [0, 1]) {
      const mine = sent.filter((s) => s.visitor === v).map((s) => byPath.get(s.path)!);
      expect(new Set(sent.filter((s) => s.visitor === v).map((s) => s.process))).toEqual(new Set(['a', 'b']));
      expect(new Set(mine.map((e) => e.visitor_id)), `visitor ${v}`).toHaveProperty('size', 1);
      expect(new Set(mine.map((e) => e.ip_hash)), `visitor ${v}`).toHaveProperty('size', 1);
      expect(mine[0]!.visitor_id).toMatch(/^h-[0-9a-f]{16}$/);
    }
    expect(byPath.get('/r0')!.visitor_id).not.toBe(byPath.get('/r2')!.visitor_id);
  }, 90_000);
});
