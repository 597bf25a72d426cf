/**
 * The batch views over two ClickHouse shards: two private clickhouse-servers whose configuration
 * (written by stack/clickhouse.ts) names both in one `remote_servers` cluster. Each day folder is
 * copied into every shard's local tables, each shard holding its sites' rows (cityHash64 of the
 * site id), reads go through the Distributed tables of the entry server, and the pointer moves
 * only once every shard holds the version. The shared read contract holds over the cluster, and
 * its answers equal the single server's (the stack's ClickHouse) query by query. The warehouse of
 * exact events is loaded into the same shards, each day swapped in per shard, read through
 * `events_all`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stopPid, type StackPaths } from '../core/processes.ts';
import { contractData, viewReaderContract } from '../core/views.contract.ts';
import { DIMENSIONS, METRICS, type Grain } from '../core/views.ts';
import { runBatch, formatDay, ViewsStore } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';
import { clickhouseBinary, startClickHouse, startClickHouseCluster, type ClickHouseServerSpec } from '../stack/index.ts';
import { onCleanup, runCleanups, tempDir } from '../testing/helpers.ts';
import { ClickHouseConnection } from './clickhouse.client.ts';
import { qualifiedName } from './sql.quote.ts';
import { viewsFixture, type ViewsFixture } from './testing/views.fixture.ts';
import { warehousePorts } from '../apps/index.ts';
import { silentLogger } from '../core/logger.ts';

const DAY = 86_400_000;
const DUCKDB = { memoryLimit: '512MB', threads: 2 };
const CLUSTER = 'twinlane_test';
const root = mkdtempSync(join(tmpdir(), 'twinlane-shards-'));
const paths: StackPaths = { root, state: join(root, 'state'), logs: join(root, 'logs'), kafkaLibs: '', kafkaData: '' };
const specs: ClickHouseServerSpec[] = [0, 1].map((i) => ({ name: `clickhouse-shard${i + 1}`, dir: join(root, `shard${i + 1}`) }));
let cluster: Promise<{ urls: string[]; pids: number[] }> | undefined;
const servers = () => (cluster ??= startClickHouseCluster(paths, specs, CLUSTER, () => undefined));

afterAll(async () => {
  await runCleanups();
  const started = await cluster?.catch(() => undefined);
  for (const pid of started?.pids ?? []) await stopPid(pid, 10_000);
  rmSync(root, { recursive: true, force: true });
});

async function clusterConfig(): Promise<Record<string, string>> {
  const { urls } = await servers();
  return { CLICKHOUSE_URL: urls[0]!, CLICKHOUSE_CLUSTER: CLUSTER, CLICKHOUSE_SHARD_URLS: urls.join(',') };
}

/** A DATA_DIR with the events in its lake and one batch version over [from, to). */
async function batchDataDir(events: Parameters<typeof writeLakeEvents>[1], from: number, to: number): Promise<string> {
  const dataDir = tempDir('ch-shards');
  await writeLakeEvents(dataDir, events);
  const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { from: formatDay(from), to: formatDay(to - DAY) });
  if (run.status !== 'ok') throw new Error(`the batch run failed: ${JSON.stringify(run)}`);
  return dataDir;
}

describe.skipIf(!clickhouseBinary())('batch views on two ClickHouse shards', () => {
  viewReaderContract(
    'ClickHouse views over two shards (Distributed reads)',
    async ({ events, from, to }) => {
      const views = viewsFixture(await batchDataDir(events, from, to), await clusterConfig());
      onCleanup(() => views.close());
      await views.publish();
      const snapshot = await views.reader.snapshot();
      if (!snapshot) throw new Error('no version on the cluster after publishing');
      return snapshot;
    },
    { setupTimeoutMs: 240_000 },
  );

  it('splits the sites over both shards, moves the pointer only once every shard has the version, and answers as one server does', async () => {
    const data = contractData();
    const dataDir = await batchDataDir(data.events, data.from, data.to);
    const { urls, pids } = await servers();
    const sharded: ViewsFixture = viewsFixture(dataDir, await clusterConfig());
    onCleanup(() => sharded.close());

    // Shard 2 down: shard 1 gets every folder, shard 2 none, and the pointer does not move.
    process.kill(pids[1]!, 'SIGKILL');
    await stopPid(pids[1]!, 5_000);
    await expect(sharded.publish()).rejects.toThrow(/is unavailable/);
    const dirs = new Set(Object.values(new ViewsStore(dataDir).current()!.days).map((d) => d.dir));
    expect(await sharded.ports.publisher.loadedDirs(0), 'shard 1 holds the version').toEqual(dirs);
    expect(await sharded.reader.pointer(), 'no pointer while a shard lacks the version').toBeNull();

    // Back on the same ports and configuration: the next publish copies into shard 2 only, then moves the pointer.
    const xml = readFileSync(join(specs[1]!.dir, 'config.xml'), 'utf8');
    const port = (tag: string) => Number(new RegExp(`<${tag}>(\\d+)</${tag}>`).exec(xml)![1]);
    const shardTcpPorts = [...xml.matchAll(/<port>(\d+)<\/port>/g)].map((m) => Number(m[1]));
    const restarted = await startClickHouse(paths, { ...specs[1]!, cluster: { name: CLUSTER, shardTcpPorts } }, () => undefined, { http: port('http_port'), tcp: port('tcp_port') });
    pids[1] = restarted.pid;
    const published = await sharded.publish();
    expect(published.moved).toBe(true);
    expect(published.loaded.map((l) => l.shard).sort()).toEqual([...dirs].map(() => 1));
    expect(await sharded.ports.publisher.loadedDirs(1)).toEqual(dirs);

    // Each shard holds rows of its own sites only, and both hold some.
    const perShard: string[][] = [];
    for (const url of urls) {
      const ch = new ClickHouseConnection({ url, username: 'default', password: '', database: sharded.config.CLICKHOUSE_DATABASE, requestTimeoutMs: 10_000 });
      try {
        const rows = await ch.rows<{ site_id: string }>(`SELECT DISTINCT site_id FROM ${qualifiedName(sharded.config.CLICKHOUSE_DATABASE, 'view_events')} ORDER BY site_id`, 'sites of a shard');
        perShard.push(rows.map((r) => r.site_id));
      } finally {
        await ch.close();
      }
    }
    expect(perShard.every((sites) => sites.length > 0), `sites per shard: ${JSON.stringify(perShard)}`).toBe(true);
    expect(perShard.flat().sort()).toEqual([...data.sites].sort());

    // The same version on the stack's single server answers every query the same.
    const single = viewsFixture(dataDir);
    onCleanup(() => single.close());
    await single.publish();
    const [a, b] = [(await sharded.reader.snapshot())!, (await single.reader.snapshot())!];
    expect(a.version).toBe(b.version);
    let compared = 0;
    for (const site of data.sites) {
      for (const grain of ['minute', 'hour', 'day', 'week'] as Grain[]) {
        const q = { site, grain, from: data.from, to: data.to, metrics: [...METRICS], zone: grain === 'week' ? 'Asia/Kolkata' : 'UTC' };
        expect(await a.series(q), `${site} ${grain}`).toEqual(await b.series(q));
        compared++;
      }
      const range = { site, from: data.from + 3_600_000, to: data.to - 7 * 60_000 };
      expect(await a.totals({ ...range, metrics: [...METRICS] })).toEqual(await b.totals({ ...range, metrics: [...METRICS] }));
      for (const dimension of DIMENSIONS) expect(await a.breakdown({ ...range, dimension, metric: 'visitors', limit: 100 }), `${site} ${dimension}`).toEqual(await b.breakdown({ ...range, dimension, metric: 'visitors', limit: 100 }));
      expect(await a.visitorIds(site, data.from, data.to)).toEqual(await b.visitorIds(site, data.from, data.to));
      expect(await a.sessionIds(site, data.from, data.to)).toEqual(await b.sessionIds(site, data.from, data.to));
      const steps = [{ kind: 'page' as const, value: '/' }, { kind: 'event' as const, value: 'signup' }];
      expect(await a.funnel({ site, from: data.from, to: data.to, steps })).toEqual(await b.funnel({ site, from: data.from, to: data.to, steps }));
      compared += 4;
    }
    expect(compared).toBeGreaterThan(10);

    // The warehouse of exact events over the same cluster: each day swapped in per shard, its
    // sites' rows only, every event once through events_all; a second sync loads nothing.
    const warehouse = warehousePorts({ ...sharded.config, WAREHOUSE_ENABLED: 'true' }, silentLogger())!;
    onCleanup(() => warehouse.close());
    const signal = new AbortController().signal;
    const synced = await warehouse.warehouse.sync({ signal });
    expect(synced.loaded.map((d) => d.day)).toEqual([formatDay(data.from), formatDay(data.from + DAY)]);
    const inRange = data.events.filter((e) => e.event_time >= data.from && e.event_time < data.to);
    const entry = new ClickHouseConnection({ url: urls[0]!, username: 'default', password: '', database: sharded.config.CLICKHOUSE_DATABASE, requestTimeoutMs: 10_000 });
    onCleanup(() => entry.close());
    const [all] = await entry.rows<{ n: string; ids: string }>(`SELECT count() AS n, uniqExact(event_id) AS ids FROM ${qualifiedName(sharded.config.CLICKHOUSE_DATABASE, 'events_all')}`, 'count');
    expect({ n: Number(all!.n), ids: Number(all!.ids) }).toEqual({ n: inRange.length, ids: inRange.length });
    for (const [i, url] of urls.entries()) {
      const ch = new ClickHouseConnection({ url, username: 'default', password: '', database: sharded.config.CLICKHOUSE_DATABASE, requestTimeoutMs: 10_000 });
      try {
        const sites = await ch.rows<{ site_id: string; n: string }>(`SELECT site_id, count() AS n FROM ${qualifiedName(sharded.config.CLICKHOUSE_DATABASE, 'events')} GROUP BY site_id ORDER BY site_id`, 'events of a shard');
        expect(sites.map((r) => r.site_id), `warehouse sites of shard ${i + 1}`).toEqual(perShard[i]);
        for (const r of sites) expect(Number(r.n), `${r.site_id} on shard ${i + 1}`).toBe(inRange.filter((e) => e.site_id === r.site_id).length);
      } finally {
        await ch.close();
      }
    }
    expect((await warehouse.warehouse.sync({ signal })).loaded).toEqual([]);
  });
});
