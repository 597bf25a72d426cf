/** The local Apache Kafka broker: jars from Maven Central, KRaft storage, one combined node. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { logFile, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';

export const KAFKA_MAIN = 'kafka.Kafka';

export interface KafkaStackOptions {
  port: number;
  controllerPort: number;
  heap: string;
}

export function jarsPresent(paths: StackPaths): boolean {
  return existsSync(paths.kafkaLibs) && readdirSync(paths.kafkaLibs).some((f) => f.startsWith('kafka_2.13-'));
}

/** Resolves the broker and its runtime dependencies with Maven (cached in ~/.m2 after the first time). */
export function fetchJars(paths: StackPaths, log: (line: string) => void): void {
  if (jarsPresent(paths)) return;
  log('fetching Apache Kafka broker jars from Maven Central (stack/kafka/pom.xml)…');
  mkdirSync(paths.kafkaLibs, { recursive: true });
  execFileSync(
    'mvn',
    ['-q', '-B', '-f', join(paths.root, 'stack/kafka/pom.xml'), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${paths.kafkaLibs}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (!jarsPresent(paths)) throw new Error('Maven finished but no kafka_2.13 jar is in ' + paths.kafkaLibs);
}

function serverProperties(paths: StackPaths, o: KafkaStackOptions): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${paths.kafkaData}`,
    'num.partitions=6',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=4',
    'min.insync.replicas=1',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=168',
    'log.segment.bytes=268435456',
    'message.max.bytes=10485760',
    'num.network.threads=2',
    'num.io.threads=4',
    '',
  ].join('\n');
}

export function kafkaRunning(paths: StackPaths): number | undefined {
  return runningPid(paths, 'kafka', KAFKA_MAIN);
}

export function javaArgs(paths: StackPaths, heap: string, main: string, rest: string[]): string[] {
  return [
    `-Xmx${heap}`,
    '-Xms256m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${join(paths.root, 'stack/kafka/log4j.properties')}`,
    '-cp',
    `${paths.kafkaLibs}/*`,
    main,
    ...rest,
  ];
}

/** Formats KRaft storage on first start, starts the broker and waits until it answers. */
export async function startKafka(paths: StackPaths, o: KafkaStackOptions, log: (line: string) => void): Promise<{ pid?: number; reused: boolean }> {
  const existing = kafkaRunning(paths);
  if (existing) return { pid: existing, reused: true };
  // A broker we did not start (another checkout's, or the user's) already serves the port: use it, never manage it.
  if (await brokerAnswers(`127.0.0.1:${o.port}`)) {
    log(`a Kafka broker not started by this stack already answers on 127.0.0.1:${o.port}; using it`);
    return { reused: true };
  }
  fetchJars(paths, log);
  mkdirSync(paths.state, { recursive: true });
  const props = join(paths.state, 'kafka-server.properties');
  writeFileSync(props, serverProperties(paths, o));
  if (!existsSync(join(paths.kafkaData, 'meta.properties'))) {
    mkdirSync(paths.kafkaData, { recursive: true });
    const clusterId = newClusterId();
    log(`formatting KRaft storage (cluster ${clusterId})`);
    execFileSync('java', javaArgs(paths, '256m', 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', props]), { stdio: 'ignore' });
  }
  const pid = startDetached(paths, 'kafka', 'java', javaArgs(paths, o.heap, KAFKA_MAIN, [props]));
  log(`broker starting (pid ${pid}), logs in ${logFile(paths, 'kafka')}`);
  await waitFor('Kafka broker', () => brokerAnswers(`127.0.0.1:${o.port}`), 120_000, () => !kafkaRunning(paths));
  return { pid, reused: false };
}

export async function brokerAnswers(broker: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'twinlane-stack', brokers: [broker], logLevel: logLevel.NOTHING, retry: KAFKA_RETRY.PROBE, connectionTimeout: 1000 }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * A KRaft cluster id: 16 random bytes, base64url. One that starts with '-' would be read as an
 * option by StorageTool's argument parser (1 in 64; it failed a CI run), so, like Kafka's own
 * Uuid.randomUuid(), draw again.
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
