/**
 * A Redis Cluster of three masters and three replicas from the machine's `redis-server`, formed
 * with `redis-cli --cluster create … --cluster-replicas 1`. Each node keeps its cluster state in
 * its own folder (`nodes.conf`), so a node that is restarted rejoins by itself: a master that died
 * comes back as the replica of the one that took over. No persistence, as the single stack: the
 * speed store is rebuilt from Kafka when a shard is lost (speed/epoch.store.ts).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { logFile, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Six ports: the first three become masters when the cluster is formed. */
  ports: readonly number[];
  /** cluster-node-timeout: how long a master is unreachable before its replica is promoted. */
  nodeTimeoutMs: number;
  /** maxmemory of each node (noeviction, as the single stack). */
  maxmemory: number;
}

export interface RedisNodeInfo {
  port: number;
  pid?: number;
  reused: boolean;
  role?: 'master' | 'replica';
}

export function redisNodeName(port: number): string {
  return `redis-${port}`;
}

/** redis-server sets its process title to `redis-server 127.0.0.1:<port> [cluster]`. */
export function redisNodeRunning(paths: StackPaths, port: number): number | undefined {
  return runningPid(paths, redisNodeName(port), `127.0.0.1:${port}`);
}

export function redisNodeDir(paths: StackPaths, port: number): string {
  return join(paths.state, '..', redisNodeName(port));
}

function nodeClient(port: number): Redis {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

/** One command to one node; undefined when it does not answer. */
async function ask(port: number, ...args: string[]): Promise<unknown> {
  const client = nodeClient(port);
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

function clusterInfo(text: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of String(text ?? '').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The node's role as the cluster sees it (ROLE), undefined when it does not answer. */
export async function redisNodeRole(port: number): Promise<'master' | 'replica' | undefined> {
  const role = (await ask(port, 'ROLE')) as [string] | undefined;
  if (!role) return undefined;
  return role[0] === 'master' ? 'master' : 'replica';
}

/** Every node answers and says the cluster is whole (all slots served, six nodes known). */
export async function redisClusterOk(ports: readonly number[]): Promise<boolean> {
  const infos = await Promise.all(ports.map(async (p) => clusterInfo(await ask(p, 'CLUSTER', 'INFO'))));
  return infos.every((i) => i.cluster_state === 'ok' && Number(i.cluster_known_nodes) === ports.length && Number(i.cluster_slots_assigned) === 16384);
}

function startNode(paths: StackPaths, port: number, o: RedisClusterOptions): number {
  const dir = redisNodeDir(paths, port);
  mkdirSync(dir, { recursive: true });
  return startDetached(paths, redisNodeName(port), 'redis-server', [
    '--bind', '127.0.0.1',
    '--port', String(port),
    '--dir', dir,
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(o.nodeTimeoutMs),
    // A replica may always take over (its data is at most node-timeout old here), and the masters
    // left keep serving their slots while one shard fails over.
    '--cluster-replica-validity-factor', '0',
    '--cluster-require-full-coverage', 'no',
    '--save', '',
    '--appendonly', 'no',
    '--maxmemory', String(o.maxmemory),
    '--maxmemory-policy', 'noeviction',
  ]);
}

/** Starts the nodes that are not running, forms the cluster when it never was, and waits until it is whole. */
export async function startRedisCluster(paths: StackPaths, o: RedisClusterOptions, log: (line: string) => void): Promise<RedisNodeInfo[]> {
  const out: RedisNodeInfo[] = [];
  for (const port of o.ports) {
    const existing = redisNodeRunning(paths, port);
    if (existing) {
      out.push({ port, pid: existing, reused: true });
      continue;
    }
    if (await ask(port, 'PING')) throw new Error(`a Redis not started by this stack answers on 127.0.0.1:${port}; stop it or set CLUSTER_REDIS_PORT`);
    const pid = startNode(paths, port, o);
    log(`redis node starting on 127.0.0.1:${port} (pid ${pid}), logs in ${logFile(paths, redisNodeName(port))}`);
    out.push({ port, pid, reused: false });
  }
  await waitFor('the Redis nodes', async () => (await Promise.all(o.ports.map((p) => ask(p, 'PING')))).every((r) => r === 'PONG'), 20_000);
  const known = await Promise.all(o.ports.map(async (p) => Number(clusterInfo(await ask(p, 'CLUSTER', 'INFO')).cluster_known_nodes)));
  if (known.every((n) => n === 1)) {
    log(`forming the Redis Cluster (${o.ports.length / 2} masters, 1 replica each)`);
    await run('redis-cli', ['--cluster', 'create', ...o.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
  }
  await waitFor('the Redis Cluster to be whole', () => redisClusterOk(o.ports), 60_000);
  for (const n of out) {
    const role = await redisNodeRole(n.port);
    if (role) n.role = role;
  }
  return out;
}
