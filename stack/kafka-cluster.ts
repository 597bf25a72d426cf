/**
 * Three Kafka brokers in KRaft mode on loopback, each a combined broker + controller (three
 * controllers form the quorum), from the same Maven jars as the single broker. Replication factor
 * 3 and min.insync.replicas 2 by default, so `acks=all` survives the loss of any one broker.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { logFile, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';
import { fetchJars, javaArgs, KAFKA_MAIN, newClusterId } from './kafka.ts';

const run = promisify(execFile);

export interface KafkaClusterOptions {
  /** Broker ports, one per node (node ids 1, 2, 3 in this order). */
  ports: readonly number[];
  /** KRaft controller ports, in the same order. */
  controllerPorts: readonly number[];
  heap: string;
}

export interface KafkaNodeInfo {
  id: number;
  port: number;
  pid?: number;
  reused: boolean;
}

/** The PID file name of broker `id`; its properties file path marks the process as ours. */
export function brokerName(id: number): string {
  return `kafka-${id}`;
}

function propsFile(paths: StackPaths, id: number): string {
  return join(paths.state, `${brokerName(id)}.properties`);
}

export function brokerDataDir(paths: StackPaths, id: number): string {
  return join(paths.kafkaData, brokerName(id));
}

export function brokerRunning(paths: StackPaths, id: number): number | undefined {
  return runningPid(paths, brokerName(id), propsFile(paths, id));
}

function nodeProperties(paths: StackPaths, o: KafkaClusterOptions, index: number): string {
  const id = index + 1;
  const voters = o.controllerPorts.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(',');
  return [
    'process.roles=broker,controller',
    `node.id=${id}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.ports[index]},CONTROLLER://127.0.0.1:${o.controllerPorts[index]}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.ports[index]}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${brokerDataDir(paths, id)}`,
    'num.partitions=6',
    'default.replication.factor=3',
    'min.insync.replicas=2',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'offsets.topic.replication.factor=3',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=3',
    'transaction.state.log.min.isr=2',
    'transaction.state.log.num.partitions=4',
    'group.initial.rebalance.delay.ms=0',
    // A dead broker is fenced (and leaves every ISR, so acks=all writes go on) after 6 s, not 9.
    'broker.session.timeout.ms=6000',
    'broker.heartbeat.interval.ms=1000',
    'replica.lag.time.max.ms=10000',
    // Leaders move back to their preferred broker soon after it returns.
    'leader.imbalance.check.interval.seconds=30',
    'unclean.leader.election.enable=false',
    'log.retention.hours=168',
    'log.segment.bytes=268435456',
    'message.max.bytes=10485760',
    'num.network.threads=2',
    'num.io.threads=2',
    'num.replica.fetchers=1',
    '',
  ].join('\n');
}

/** The cluster id every node is formatted with, made once and kept beside the PID files. */
function clusterId(paths: StackPaths): string {
  const file = join(paths.state, 'kafka-cluster.id');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const id = newClusterId();
  mkdirSync(paths.state, { recursive: true });
  writeFileSync(file, id);
  return id;
}

/** Formats the nodes that have no storage yet, then starts those not running; waits until all three serve. */
export async function startKafkaCluster(paths: StackPaths, o: KafkaClusterOptions, log: (line: string) => void): Promise<KafkaNodeInfo[]> {
  fetchJars(paths, log);
  mkdirSync(paths.state, { recursive: true });
  const id = clusterId(paths);
  const nodes = o.ports.map((port, i) => ({ id: i + 1, port, index: i }));
  await Promise.all(
    nodes.map(async (n) => {
      writeFileSync(propsFile(paths, n.id), nodeProperties(paths, o, n.index));
      const data = brokerDataDir(paths, n.id);
      if (existsSync(join(data, 'meta.properties'))) return;
      mkdirSync(data, { recursive: true });
      await run('java', javaArgs(paths, '256m', 'kafka.tools.StorageTool', ['format', '-t', id, '-c', propsFile(paths, n.id)]));
    }),
  );
  const out: KafkaNodeInfo[] = [];
  for (const n of nodes) {
    const existing = brokerRunning(paths, n.id);
    if (existing) {
      out.push({ id: n.id, port: n.port, pid: existing, reused: true });
      continue;
    }
    const pid = startDetached(paths, brokerName(n.id), 'java', javaArgs(paths, o.heap, KAFKA_MAIN, [propsFile(paths, n.id)]));
    log(`broker ${n.id} starting on 127.0.0.1:${n.port} (pid ${pid}), logs in ${logFile(paths, brokerName(n.id))}`);
    out.push({ id: n.id, port: n.port, pid, reused: false });
  }
  const brokers = o.ports.map((p) => `127.0.0.1:${p}`);
  await waitFor('the three Kafka brokers', () => clusterServes(brokers), 180_000, () => nodes.some((n) => !brokerRunning(paths, n.id)));
  return out;
}

/** True when the cluster has elected a controller and all of `brokers` are registered in it. */
export async function clusterServes(brokers: readonly string[]): Promise<boolean> {
  const admin = new Kafka({ clientId: 'twinlane-stack', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: KAFKA_RETRY.PROBE, connectionTimeout: 1000 }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length === brokers.length && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
