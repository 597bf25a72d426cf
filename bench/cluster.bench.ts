/**
 * The cluster stack's figures (`make bench ONLY=cluster`; last group of `make bench`, so they are
 * printed beside the single-stack figures of the same run): the collector and speed benchmarks
 * run unchanged with STACK=cluster (three KRaft brokers, topics with replication factor 3 and
 * min.insync.replicas 2, so every acks=all send waits for a second broker; the speed store on a
 * Redis Cluster of three masters and three replicas, each write round fenced by WAIT):
 * - cluster_collector_events_per_s (and _p99_ms): bench/collector.bench.ts's collector_events_per_s;
 * - cluster_speed_events_per_s: bench/speed.bench.ts's speed_events_per_s (BENCH_SPEED_EVENTS,
 *   freshness probes left out).
 * The cluster stack is started when it is not running, and stopped again if this run started it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadConfig } from '../core/config.ts';
import { brokerRunning, clusterDown, clusterPaths, clusterUp } from '../stack/index.ts';
import { parseFigure } from './figures.ts';

const config = loadConfig({ ...process.env, STACK: 'cluster', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const wasRunning = brokerRunning(clusterPaths(), 1) !== undefined;
await clusterUp(config, (line) => console.log(`# ${line}`));

/** Runs one benchmark file against the cluster stack; its figures by name. */
function runBench(file: string, env: Record<string, string>): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, STACK: 'cluster', ...env } });
    const figures = new Map<string, number>();
    createInterface({ input: child.stdout }).on('line', (line) => {
      const f = parseFigure(line);
      if (f) figures.set(f.name, f.value);
      else console.log(line);
    });
    child.on('close', (code) => (code === 0 ? resolve(figures) : reject(new Error(`${file} exited with ${code}`))));
  });
}

try {
  const collector = await runBench('bench/collector.bench.ts', {});
  for (const name of ['collector_events_per_s', 'collector_p99_ms', 'collector_cpu_us_per_event', 'collector_non2xx']) {
    const v = collector.get(name);
    if (v !== undefined) console.log(`bench: cluster_${name} = ${v}`);
  }
  const speed = await runBench('bench/speed.bench.ts', { BENCH_SPEED_ONLY: 'throughput' });
  for (const name of ['speed_events_per_s', 'speed_events_per_s_one_instance', 'speed_redis_cpu_us_per_event']) {
    const v = speed.get(name);
    if (v !== undefined) console.log(`bench: cluster_${name} = ${v}`);
  }
} finally {
  if (!wasRunning) await clusterDown(config, () => undefined);
}
