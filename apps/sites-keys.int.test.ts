/**
 * Keys managed with `twinlane sites` reach running services without a restart: the collector and
 * the serving API run as processes on a sites file of hashed keys; a site added, a key rotated, a
 * broken edit and a removal are picked up (or refused) within SITES_RELOAD_INTERVAL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, speedKeyPrefix, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { startEntry as service, twinlane as cli } from '../testing/processes.ts';

function keysOf(json: string): { writeKey?: string; readKey?: string } {
  return JSON.parse(json) as { writeKey?: string; readKey?: string };
}

describe('twinlane sites with running services', () => {
  afterAll(runCleanups, 30_000);

  it('adds, rotates and removes keys that the collector and the serving API take without a restart; a broken edit is refused', async () => {
    const dir = tempDir('sites');
    const file = join(dir, 'sites.json');
    const shop = keysOf(await cli(['sites', 'add', 'shop', '--file', file, '--json']));
    expect(shop.writeKey).toMatch(/^wk_[A-Za-z0-9_-]{32}$/);
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain(shop.writeKey!);
    expect(stored).not.toContain(shop.readKey!);
    expect(stored).toMatch(/"writeKeyHash": "sha256:[0-9a-f]{64}"/);

    const env = { SPEED_KEY_PREFIX: speedKeyPrefix(testConfig(), 'test-sites'), SITES_FILE: file, SITES_RELOAD_INTERVAL: '100ms', DATA_DIR: join(dir, 'data'), EVENTS_TOPIC: uniqueName('test.sites-events'), DLQ_TOPIC: uniqueName('test.sites-dlq'), COLLECTOR_PORT: '0', SERVING_PORT: '0' };
    const [collector, serving] = await Promise.all([service('apps/collector.main.ts', env, 'collector_listening'), service('apps/serving.main.ts', env, 'serving_listening')]);
    const collectUrl = String(collector.line.url);
    const servingUrl = `http://127.0.0.1:${String(serving.line.port)}`;
    const send = (site: string, key: string | undefined) =>
      fetch(`${collectUrl}/v1/collect?site=${site}&key=${key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ type: 'pageview', url: `https://${site}.example/`, visitor: 'v1', session: 's1', ts: Date.now() }]) }).then((r) => r.status);
    const read = (site: string, key: string | undefined) => fetch(`${servingUrl}/v1/sites/${site}/realtime`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    const accepted = (s: number) => s === 200 || s === 202;

    expect(accepted(await send('shop', shop.writeKey))).toBe(true);
    expect(await send('shop', 'wk_not_the_key')).toBe(401);
    expect(await read('shop', shop.readKey)).toBe(200);

    // A site added while both run: taken within the reload interval.
    const blog = keysOf(await cli(['sites', 'add', 'blog', '--file', file, '--json']));
    await waitUntil('the collector to take the new site', async () => accepted(await send('blog', blog.writeKey)), 10_000, 100);
    await waitUntil('the serving API to take the new site', async () => (await read('blog', blog.readKey)) === 200, 10_000, 100);

    // A rotated write key: the old one stops working, the new one works; the read key is untouched.
    const rotated = keysOf(await cli(['sites', 'rotate-key', 'shop', '--role', 'write', '--file', file, '--json']));
    expect(rotated.readKey).toBeUndefined();
    await waitUntil('the old write key to be refused', async () => (await send('shop', shop.writeKey)) === 401, 10_000, 100);
    expect(accepted(await send('shop', rotated.writeKey))).toBe(true);
    expect(await read('shop', shop.readKey)).toBe(200);

    // A broken edit is refused; the sites loaded before stay in force.
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{ "sites": [ { "id": "shop", ');
    await waitUntil('both services to refuse the broken file', () => collector.logs().includes('sites_reload_refused') && serving.logs().includes('sites_reload_refused'), 10_000, 100);
    expect(accepted(await send('shop', rotated.writeKey))).toBe(true);
    expect(await read('blog', blog.readKey)).toBe(200);
    writeFileSync(file, good);

    // A saved segment added with the CLI: checked as a query takes it, then listed by the running API.
    await cli(['sites', 'segment', 'add', 'shop', 'Mobile search', '--filters', '[["is", "visit:device", ["mobile"]], ["contains", "referrer", ["google"]]]', '--file', file]);
    const segments = async () => (await (await fetch(`${servingUrl}/v1/sites/shop/segments`, { headers: { authorization: `Bearer ${shop.readKey}` } })).json()) as { segments?: { name: string; filters: unknown[] }[] };
    await waitUntil('the serving API to list the new segment', async () => (await segments()).segments?.some((g) => g.name === 'Mobile search') === true, 10_000, 100);
    expect((await segments()).segments?.find((g) => g.name === 'Mobile search')?.filters).toEqual([['is', 'visit:device', ['mobile']], ['contains', 'referrer', ['google']]]);
    for (const [filters, problem] of [
      ['[["is", "visit:planet", ["mars"]]]', /segment "Bad": .*planet/],
      ['[["like", "visit:device", ["mobile"]]]', /segment "Bad": .*operator "like" is unknown/],
      ['[["is", "event:goal", ["Nope"]]]', /segment "Bad": goal "Nope" is unknown/],
      ['not json', /--filters is not JSON/],
    ] as const)
      await expect(cli(['sites', 'segment', 'add', 'shop', 'Bad', '--filters', filters, '--file', file])).rejects.toThrow(problem);
    await cli(['sites', 'segment', 'remove', 'shop', 'Mobile search', '--file', file]);
    await waitUntil('the serving API to drop the removed segment', async () => (await segments()).segments?.length === 0, 10_000, 100);

    // A removed site: refused by both.
    await cli(['sites', 'remove', 'blog', '--yes', '--file', file]);
    await waitUntil('the collector to refuse the removed site', async () => (await send('blog', blog.writeKey)) === 401, 10_000, 100);
    await waitUntil('the serving API to refuse the removed site', async () => (await read('blog', blog.readKey)) !== 200, 10_000, 100);
    expect(await read('blog', blog.readKey)).toBeGreaterThanOrEqual(400);
    expect(collector.child.exitCode).toBeNull();
    expect(serving.child.exitCode).toBeNull();
  }, 150_000);
});
