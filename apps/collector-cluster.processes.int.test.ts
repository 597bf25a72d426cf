/**
 * COLLECTOR_PROCESSES=2: the real entry point as a node:cluster of two collectors on one port.
 * Connections are spread over both workers; /metrics answers for both; a worker that dies is
 * replaced; SIGTERM to the primary drains both and exits 0.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isAlive } from '../core/processes.ts';
import { runCleanups, waitUntil } from '../testing/helpers.ts';
import { startEntry } from '../testing/processes.ts';
import { collectorProcessEnv } from '../ingest/testing/collector.fixture.ts';

/** One request on a connection of its own (the primary hands each new connection to the next worker). */
function post(port: number, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('collector cluster', () => {
  afterAll(runCleanups, 30_000);

  it('two workers share one port and one /metrics, a dead worker is replaced, SIGTERM drains both', async () => {
    const port = await freePort();
    const { site, writeKey, env } = collectorProcessEnv('cluster', { COLLECTOR_PORT: String(port), COLLECTOR_PROCESSES: '2' });
    const primary = await startEntry('apps/collector.main.ts', env, 'collector_cluster_ready');
    const pids = primary.line.pids as number[];
    expect(pids).toHaveLength(2);

    const body = JSON.stringify([{ type: 'pageview', url: 'https://x.example/', visitor: 'v1' }]);
    const statuses = await Promise.all(Array.from({ length: 8 }, () => post(port, `/v1/collect?site=${site}&key=${writeKey}`, body)));
    expect(statuses).toEqual(Array(8).fill(202));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^twinlane_collector_requests_total\{status="202"\} 8$/m);
    expect(metrics).toMatch(/^twinlane_collector_events_total\{outcome="accepted",code=""\} 8$/m);

    process.kill(pids[0]!, 'SIGKILL');
    await waitUntil('a new worker', () => (primary.logs().match(/"collector_cluster_ready"/g) ?? []).length >= 2, 40_000, 200);
    expect(primary.logs()).toContain('"collector_worker_died"');
    // What the surviving worker counted: some of the 8, not all, so both took connections and the 8 above was their sum.
    const survivor = Number(/^twinlane_collector_requests_total\{status="202"\} (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]);
    expect(survivor).toBeGreaterThan(0);
    expect(survivor).toBeLessThan(8);
    expect(await post(port, `/v1/collect?site=${site}&key=${writeKey}`, body)).toBe(202);

    const exited = new Promise<number | null>((r) => primary.child.once('exit', (code) => r(code)));
    primary.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(isAlive(pids[1]!)).toBe(false);
    expect(primary.logs()).toContain('"collector-cluster"');
  }, 90_000);
});
