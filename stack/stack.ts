/**
 * `stack up|down|status`: the local stack without Docker (Kafka broker in KRaft mode, Redis, ClickHouse,
 * the bundled schema registry). Idempotent: `up` reuses what runs; `down` stops exactly the
 * processes it started (recorded in .local/stack/*.pid).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { readStackEnv, type ConfigValues } from '../core/config.ts';
import { ensureTopicsWith, pipelineTopics } from '../core/kafka-topics.ts';
import { errorMessage } from '../core/errors.ts';
import { retry } from '../core/retry.ts';
import { kafkaRunning, startKafka } from './kafka.ts';
import { logFile, pidFile, runningPid, startDetached, stopPid, stackPaths, waitFor, type StackPaths } from '../core/processes.ts';
import { ensureRedis, ownRedisRunning, redisAnswers } from './redis.ts';
import { clickhouseAnswers, clickhouseRunning, ensureClickHouse, ownClickHouseUrl, stackClickHouse, type ClickHouseInfo } from './clickhouse.ts';

export const REGISTRY_ENTRY = 'apps/registry.main.ts';

export interface StackInfo {
  /** `pid` is absent when the broker on the port is not ours (external). */
  kafka: { brokers: string; pid?: number; reused: boolean };
  redis: { url: string; pid?: number; reused: boolean };
  registry?: { url: string; pid?: number; reused: boolean };
  /** Absent when clickhouse-server is not installed and no CLICKHOUSE_URL is set. */
  clickhouse?: ClickHouseInfo;
}

function writeStackEnv(paths: StackPaths, vars: Record<string, string>): void {
  mkdirSync(paths.state, { recursive: true });
  writeFileSync(join(paths.state, 'stack.env'), Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}

/** Matches apps/registry.main.ts and schemas/registry.main.ts, where a stack started before apps/ existed runs it: still ours to stop. */
const LEGACY_REGISTRY_ENTRY = 'registry.main.ts';

export function registryRunning(paths: StackPaths): number | undefined {
  return runningPid(paths, 'registry', LEGACY_REGISTRY_ENTRY);
}

async function registryAnswers(url: string): Promise<boolean> {
  const res = await fetch(new URL('/subjects', url), { signal: AbortSignal.timeout(1000) });
  return res.ok;
}

export async function ensureRegistry(paths: StackPaths, config: ConfigValues, brokers: string, log: (l: string) => void): Promise<StackInfo['registry']> {
  if (!existsSync(join(paths.root, REGISTRY_ENTRY))) {
    log('schema registry not built yet; skipped');
    return undefined;
  }
  const url = `http://127.0.0.1:${config.REGISTRY_PORT}`;
  const existing = registryRunning(paths);
  if (existing) return { url, pid: existing, reused: true };
  if (await registryAnswers(url).catch(() => false)) {
    log(`a schema registry not started by this stack already answers at ${url}; using it`);
    return { url, reused: true };
  }
  const pid = startDetached(paths, 'registry', process.execPath, ['--import', 'tsx', join(paths.root, REGISTRY_ENTRY)], {
    ...process.env,
    KAFKA_BROKERS: brokers,
    REGISTRY_PORT: String(config.REGISTRY_PORT),
    REGISTRY_TOPIC: config.REGISTRY_TOPIC,
  });
  log(`schema registry starting (pid ${pid}), logs in ${logFile(paths, 'registry')}`);
  await waitFor('schema registry', () => registryAnswers(url), 60_000, () => !registryRunning(paths));
  return { url, pid, reused: false };
}

/**
 * The pipeline's topics on brokers the stack has just started: the same topics and helper the
 * services use at start, created whatever KAFKA_CREATE_TOPICS says. Brokers that have just come up
 * can still drop a connection (a CI run of the cluster stack once lost its start to 'Closed
 * connection' right after the three brokers registered), so a Kafka error here is tried again, for
 * about half a minute, before the start-up fails.
 */
export async function createPipelineTopics(config: ConfigValues, brokers: string[], replicationFactor: number, log: (line: string) => void): Promise<void> {
  const topics = pipelineTopics(config);
  const client = new Kafka({ clientId: 'twinlane-stack', brokers, logLevel: logLevel.NOTHING });
  const created = await retry(() => ensureTopicsWith(client, [topics.events, topics.dlq, topics.registry], { create: true, replicationFactor }), {
    attempts: 8,
    initialDelayMs: 500,
    maxDelayMs: 8_000,
    shouldRetry: (err) => err instanceof Error && err.name.startsWith('KafkaJS'),
    onRetry: (err, attempt) => log(`creating the topics (attempt ${attempt}): ${errorMessage(err)}; trying again`),
  });
  if (created.length > 0) log(`created topics: ${created.join(', ')}`);
}

export async function stackUp(config: ConfigValues, log: (line: string) => void = console.log, root = process.cwd()): Promise<StackInfo> {
  const paths = stackPaths(root);
  const brokers = `127.0.0.1:${config.KAFKA_PORT}`;
  const kafka = await startKafka(paths, { port: config.KAFKA_PORT, controllerPort: config.KAFKA_CONTROLLER_PORT, heap: config.KAFKA_HEAP }, log);
  await createPipelineTopics(config, [brokers], config.KAFKA_REPLICATION_FACTOR, log);
  const previousOwnRedis = ownRedisRunning(paths) ? readOwnRedisUrl(paths) : undefined;
  const redis = await ensureRedis(paths, config.REDIS_URL, previousOwnRedis, log, config.REDIS_MAXMEMORY);
  if (redis.pid) writeFileSync(join(paths.state, 'redis.url'), redis.url);
  const registry = await ensureRegistry(paths, config, brokers, log);
  // A CLICKHOUSE_URL that stack.env supplied is ours from a previous start, not the user's.
  const externalClickHouse = config.CLICKHOUSE_URL === readStackEnv(root).CLICKHOUSE_URL ? '' : config.CLICKHOUSE_URL;
  const clickhouse = await ensureClickHouse(paths, externalClickHouse, log);
  writeStackEnv(paths, {
    KAFKA_BROKERS: brokers,
    REDIS_URL: redis.url,
    ...(registry ? { SCHEMA_REGISTRY_URL: registry.url } : {}),
    ...(clickhouse?.pid ? { CLICKHOUSE_URL: clickhouse.url } : {}),
  });
  return { kafka: { brokers, pid: kafka.pid, reused: kafka.reused }, redis, registry, ...(clickhouse ? { clickhouse } : {}) };
}

function readOwnRedisUrl(paths: StackPaths): string | undefined {
  const file = join(paths.state, 'redis.url');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Stops, in reverse order, only the processes this stack started. */
export async function stackDown(log: (line: string) => void = console.log, root = process.cwd()): Promise<void> {
  const paths = stackPaths(root);
  const components: [string, number | undefined][] = [
    ['registry', registryRunning(paths)],
    ['clickhouse', clickhouseRunning(paths)],
    ['redis', ownRedisRunning(paths)],
    ['kafka', kafkaRunning(paths)],
  ];
  for (const [name, pid] of components) {
    if (!pid) continue;
    const how = await stopPid(pid, name === 'kafka' || name === 'clickhouse' ? 30_000 : 10_000);
    rmSync(pidFile(paths, name), { force: true });
    log(`${name}: ${how} (pid ${pid})`);
  }
  rmSync(join(paths.state, 'stack.env'), { force: true });
  rmSync(join(paths.state, 'redis.url'), { force: true });
}

export async function stackStatus(config: ConfigValues, root = process.cwd()): Promise<string[]> {
  const paths = stackPaths(root);
  const lines: string[] = [];
  const kafka = kafkaRunning(paths);
  lines.push(
    kafka
      ? `kafka     running  pid ${kafka}  127.0.0.1:${config.KAFKA_PORT} (controller ${config.KAFKA_CONTROLLER_PORT})  data ${paths.kafkaData}  log ${logFile(paths, 'kafka')}`
      : `kafka     stopped  (make stack-up starts it on 127.0.0.1:${config.KAFKA_PORT})`,
  );
  const ownRedis = ownRedisRunning(paths);
  if (ownRedis) lines.push(`redis     running  pid ${ownRedis}  ${config.REDIS_URL} (started by the stack)  log ${logFile(paths, 'redis')}`);
  else lines.push(`redis     ${(await redisAnswers(config.REDIS_URL)) ? 'answers' : 'DOWN   '}  ${config.REDIS_URL} (external, not managed by the stack)`);
  const registry = registryRunning(paths);
  lines.push(
    registry
      ? `registry  running  pid ${registry}  ${config.SCHEMA_REGISTRY_URL}  log ${logFile(paths, 'registry')}`
      : `registry  stopped`,
  );
  const clickhouse = clickhouseRunning(paths);
  const ownClickHouse = ownClickHouseUrl(stackClickHouse(paths));
  if (clickhouse) lines.push(`clickhouse running  pid ${clickhouse}  ${ownClickHouse} (started by the stack)  data ${stackClickHouse(paths).dir}/data  log ${logFile(paths, 'clickhouse')}`);
  else if (config.CLICKHOUSE_URL && config.CLICKHOUSE_URL !== ownClickHouse) lines.push(`clickhouse ${(await clickhouseAnswers(config.CLICKHOUSE_URL)) ? 'answers' : 'DOWN   '}  ${config.CLICKHOUSE_URL} (external, not managed by the stack)`);
  else lines.push(`clickhouse stopped`);
  return lines;
}
