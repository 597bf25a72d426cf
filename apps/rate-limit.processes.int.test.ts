/**
 * Two collector processes (the real entry point, configured from the environment) share one
 * per-site rate limit through Redis: together they accept the limit, not twice it.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SitesFile } from '../core/sites.file.ts';
import { runCleanups, tempDir, uniqueName } from '../testing/helpers.ts';
import { startEntry } from '../testing/processes.ts';

const LIMIT = 15;

describe('rate limits across collector processes', () => {
  afterAll(runCleanups, 30_000);

  it(`two collector processes accept ${LIMIT} requests of one site together, then answer 429 with Retry-After`, async () => {
    const dir = tempDir('rl-processes');
    const file = join(dir, 'sites.json');
    // A site of its own: its counter in Redis is this test's alone.
    const site = uniqueName('rl').toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 60);
    const { writeKey } = new SitesFile(file).add({ id: site });
    const env = {
      SITES_FILE: file,
      DATA_DIR: join(dir, 'data'),
      EVENTS_TOPIC: uniqueName('test.rl-events'),
      DLQ_TOPIC: uniqueName('test.rl-dlq'),
      COLLECTOR_PORT: '0',
      COLLECTOR_RATE_LIMIT_SITE: `${LIMIT}/1m`,
      // The per-address counter is shared with every other collector on this machine's 127.0.0.1: out of the way.
      COLLECTOR_RATE_LIMIT_CLIENT: '1000000/1m',
    };
    const [a, b] = await Promise.all([startEntry('apps/collector.main.ts', env, 'collector_listening'), startEntry('apps/collector.main.ts', env, 'collector_listening')]);
    expect(a.child.pid).not.toBe(b.child.pid);
    const post = (url: string) =>
      fetch(`${url}/v1/collect?site=${site}&key=${writeKey}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ type: 'pageview', url: 'https://x.example/', visitor: 'v1', session: 's1', ts: Date.now() }]) });
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) for (const p of [a, b]) statuses.push((await post(String(p.line.url))).status);
    expect(statuses.filter((s) => s === 200 || s === 202).length, `statuses ${statuses.join(',')}`).toBe(LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBe(LIMIT);
    const over = await post(String(b.line.url));
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { error: { message: string } }).error.message).toMatch(new RegExp(`site: ${LIMIT} requests per`));
  }, 120_000);
});
