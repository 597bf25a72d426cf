/**
 * `stack up|down|status --cluster` (STACK=cluster): three KRaft brokers, a Redis Cluster of three
 * masters and three replicas and the bundled registry, on ports of their own and with state under
 * `.local/cluster/`, so it runs beside the single stack. Idempotent like it: `up` starts only what
 * is not running (a killed node comes back, and rejoins), `down` stops only what it started.
 * Addresses go to `.local/cluster/stack.env`, which commands read with STACK=cluster.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ConfigValues } from '../core/config.ts';
import { logFile, pidFile, stopPid, type StackPaths } from '../core/processes.ts';
import { brokerDataDir, brokerName, brokerRunning, clusterServes, startKafkaCluster, type KafkaNodeInfo } from './kafka-cluster.ts';
import { redisNodeDir, redisNodeName, redisNodeRole, redisNodeRunning, startRedisCluster, type RedisNodeInfo } from './redis-cluster.ts';
import { createPipelineTopics, ensureRegistry, registryRunning } from './stack.ts';

/** Ports of the cluster stack, from configuration. */
export interface ClusterLayout {
  kafkaPorts: number[];
  controllerPorts: number[];
  redisPorts: number[];
  registryPort: number;
}

export function clusterLayout(config: ConfigValues): ClusterLayout {
  const k = config.CLUSTER_KAFKA_PORT;
  const r = config.CLUSTER_REDIS_PORT;
  return {
    kafkaPorts: [k, k + 1, k + 2],
    controllerPorts: [k + 100, k + 101, k + 102],
    redisPorts: [r, r + 1, r + 2, r + 3, r + 4, r + 5],
    registryPort: config.CLUSTER_REGISTRY_PORT,
  };
}

/** The cluster stack's folders: PID files and stack.env in `.local/cluster/stack`, logs in `.local/cluster/logs`, data beside. */
export function clusterPaths(root = process.cwd()): StackPaths {
  const dir = resolve(root, '.local/cluster');
  return { root: resolve(root), state: join(dir, 'stack'), logs: join(dir, 'logs'), kafkaLibs: resolve(root, '.local/kafka/libs'), kafkaData: dir };
}

export interface ClusterStackInfo {
  brokers: string;
  kafka: KafkaNodeInfo[];
  redisNodes: string;
  redis: RedisNodeInfo[];
  registry?: { url: string; pid?: number; reused: boolean };
}

export async function clusterUp(config: ConfigValues, log: (line: string) => void = console.log, root = process.cwd()): Promise<ClusterStackInfo> {
  const paths = clusterPaths(root);
  const layout = clusterLayout(config);
  const brokers = layout.kafkaPorts.map((p) => `127.0.0.1:${p}`).join(',');
  const [kafka, redis] = await Promise.all([
    startKafkaCluster(paths, { ports: layout.kafkaPorts, controllerPorts: layout.controllerPorts, heap: config.CLUSTER_KAFKA_HEAP }, log),
    startRedisCluster(paths, { ports: layout.redisPorts, nodeTimeoutMs: config.CLUSTER_REDIS_NODE_TIMEOUT, maxmemory: config.REDIS_MAXMEMORY }, log),
  ]);
  // Replication factor 3 and min.insync.replicas 2 are the brokers' defaults (kafka-cluster.ts).
  await createPipelineTopics(config, brokers.split(','), 3, log);
  const registry = await ensureRegistry(paths, { ...config, REGISTRY_PORT: layout.registryPort }, brokers, log);
  const redisNodes = layout.redisPorts.map((p) => `127.0.0.1:${p}`).join(',');
  mkdirSync(paths.state, { recursive: true });
  const env = { KAFKA_BROKERS: brokers, REDIS_CLUSTER_NODES: redisNodes, ...(registry ? { SCHEMA_REGISTRY_URL: registry.url } : {}) };
  writeFileSync(join(paths.state, '..', 'stack.env'), Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return { brokers, kafka, redisNodes, redis, ...(registry ? { registry } : {}) };
}

/** Stops, in reverse order, only the processes the cluster stack started; data stays. */
export async function clusterDown(config: ConfigValues, log: (line: string) => void = console.log, root = process.cwd()): Promise<void> {
  const paths = clusterPaths(root);
  const layout = clusterLayout(config);
  const registry = registryRunning(paths);
  if (registry) {
    log(`registry: ${await stopPid(registry, 10_000)} (pid ${registry})`);
    rmSync(pidFile(paths, 'registry'), { force: true });
  }
  await Promise.all([
    ...layout.redisPorts.map(async (port) => {
      const pid = redisNodeRunning(paths, port);
      if (!pid) return;
      log(`redis 127.0.0.1:${port}: ${await stopPid(pid, 10_000)} (pid ${pid})`);
      rmSync(pidFile(paths, redisNodeName(port)), { force: true });
    }),
    ...layout.kafkaPorts.map(async (_, i) => {
      const pid = brokerRunning(paths, i + 1);
      if (!pid) return;
      log(`kafka broker ${i + 1}: ${await stopPid(pid, 30_000)} (pid ${pid})`);
      rmSync(pidFile(paths, brokerName(i + 1)), { force: true });
    }),
  ]);
  rmSync(join(paths.state, '..', 'stack.env'), { force: true });
}

export async function clusterStatus(config: ConfigValues, root = process.cwd()): Promise<string[]> {
  const paths = clusterPaths(root);
  const layout = clusterLayout(config);
  const lines: string[] = [];
  layout.kafkaPorts.forEach((port, i) => {
    const pid = brokerRunning(paths, i + 1);
    lines.push(pid ? `kafka ${i + 1}   running  pid ${pid}  127.0.0.1:${port} (controller ${layout.controllerPorts[i]})  data ${brokerDataDir(paths, i + 1)}  log ${logFile(paths, brokerName(i + 1))}` : `kafka ${i + 1}   stopped  (127.0.0.1:${port})`);
  });
  const brokers = layout.kafkaPorts.filter((_, i) => brokerRunning(paths, i + 1)).map((p) => `127.0.0.1:${p}`);
  if (brokers.length > 0) lines.push(`kafka     ${(await clusterServes(brokers)) ? `${brokers.length} of 3 brokers serve` : 'not serving yet'}`);
  for (const port of layout.redisPorts) {
    const pid = redisNodeRunning(paths, port);
    const role = pid ? await redisNodeRole(port) : undefined;
    lines.push(pid ? `redis ${port} running  pid ${pid}  ${role ?? 'not answering'}  dir ${redisNodeDir(paths, port)}  log ${logFile(paths, redisNodeName(port))}` : `redis ${port} stopped`);
  }
  const registry = registryRunning(paths);
  lines.push(registry ? `registry  running  pid ${registry}  http://127.0.0.1:${layout.registryPort}  log ${logFile(paths, 'registry')}` : 'registry  stopped');
  return lines;
}
