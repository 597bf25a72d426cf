/**
 * Several collector processes on one port (COLLECTOR_PROCESSES > 1), with node:cluster: the
 * primary only forks, watches and stops workers; each worker is a whole collector with its own
 * idempotent Kafka producer (one send in flight each, so n workers have n sends in flight).
 * Rate limits and hashing salts are shared in Redis, so which worker takes a request does not
 * change its answer or its visitor id.
 *
 * - Connections are handed to workers round-robin by the primary (Linux default): a keep-alive
 *   connection stays on one worker; a visitor's next request may land on another, which is fine
 *   because a client sends it after the 202 of the previous one (its events are in Kafka by then).
 * - Stop: SIGTERM/SIGINT/SIGHUP to the primary is passed on to every worker (by IPC: a terminal's
 *   Ctrl-C reaches the workers too, and a second signal would force their exit), which drain as a
 *   single collector does; the primary exits when they all have. A second signal forces exit.
 * - A worker that dies is replaced after a second; more than MAX_RESTARTS deaths in a minute stop
 *   the collector (a crash loop, such as a missing schema registry at start, is not hidden).
 * - /metrics on any worker answers the sum over all workers: the worker asks the primary, which
 *   gathers every worker's registry with prom-client's AggregatorRegistry. One scrape target, the
 *   same URL as with one process (a metrics port per worker would make every scraper know n).
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';

const SHUTDOWN = 'twinlane:collector-shutdown';
const READY = 'twinlane:collector-ready';
const METRICS_REQ = 'twinlane:collector-metrics-req';
const METRICS_RES = 'twinlane:collector-metrics-res';
const MAX_RESTARTS = 5;
/**
 * V8's young generation per worker, MB (`--max-semi-space-size`; Node's default is 16 on 64-bit):
 * a collector allocates a lot of short-lived objects per event, and with the default, scavenges
 * took about a tenth of its CPU. Measured A/B with 2 workers: 16 → 32 MB took 46 → 37 µs of
 * collector CPU per event and 31k → 35k events/s (64 MB: no better than 32). A flag given in
 * execArgv or NODE_OPTIONS wins.
 */
const SEMI_SPACE_MB = 32;
const RESTART_DELAY_MS = 1_000;

interface Message {
  type?: string;
  id?: number;
  text?: string;
  error?: string;
}

/** COLLECTOR_PROCESSES → a process count (`auto`: the cores this process may use). */
export function collectorProcesses(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/**
 * The primary: forks `processes` workers (each runs this same entry point and becomes a
 * collector), replaces dead ones, and stops them all on a signal. Resolves once they run.
 */
export async function runCollectorPrimary(options: { processes: number; logger: Logger; stopTimeoutMs: number }): Promise<void> {
  const { processes, logger } = options;
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let deaths: number[] = [];
  const ready = new Set<number>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (m: Message) => {
      if (m?.type === READY) {
        ready.add(worker.id);
        if (ready.size === processes) logger.info({ event: 'collector_cluster_ready', processes, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) }, `${processes} collector processes ready`);
      } else if (m?.type === METRICS_REQ) {
        aggregator.clusterMetrics().then(
          (text) => worker.isConnected() && worker.send({ type: METRICS_RES, id: m.id, text }),
          (err: unknown) => worker.isConnected() && worker.send({ type: METRICS_RES, id: m.id, error: String(err) }),
        );
      }
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker.id);
    if (stopping) return;
    const now = Date.now();
    deaths = [...deaths.filter((t) => t > now - 60_000), now];
    logger.error({ event: 'collector_worker_died', pid: worker.process.pid, code, signal, deaths_last_minute: deaths.length }, 'a collector process died; starting another');
    if (deaths.length > MAX_RESTARTS) {
      logger.error({ event: 'collector_crash_loop', deaths: deaths.length }, `more than ${MAX_RESTARTS} collector processes died within a minute; stopping`);
      void stopAll(1);
      return;
    }
    setTimeout(() => !stopping && fork(), RESTART_DELAY_MS).unref();
  });

  const stopAll = async (exitCode: number): Promise<void> => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exited = workers.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))));
    for (const w of workers) if (w.isConnected()) w.send({ type: SHUTDOWN });
    const timer = setTimeout(() => {
      logger.error({ event: 'shutdown_timeout', after_ms: options.stopTimeoutMs }, 'collector processes did not stop in time; killing them');
      for (const w of workers) w.process.kill('SIGKILL');
    }, options.stopTimeoutMs + 2_000);
    await Promise.all(exited);
    clearTimeout(timer);
    logger.info({ event: 'service_stopped', service: 'collector-cluster' });
    process.exit(exitCode);
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Second signal: the workers take it as theirs and exit at once.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(1);
    }
    logger.info({ event: 'shutdown', signal, processes });
    void stopAll(0);
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, onSignal);

  const flag = '--max-semi-space-size';
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith(flag));
  cluster.setupPrimary({ execArgv: given ? process.execArgv : [...process.execArgv, `${flag}=${SEMI_SPACE_MB}`] });
  logger.info({ event: 'collector_cluster_starting', processes, primary_pid: process.pid });
  for (let i = 0; i < processes; i++) fork();
}

/**
 * A worker: stops gracefully when the primary says so or goes away, tells the primary once it
 * listens, and answers /metrics with the whole cluster's figures (WorkerMetrics).
 */
export function joinCollectorCluster(metrics: Metrics): { ready(): void } {
  new AggregatorRegistry(); // installs the listener that hands this worker's figures to the primary
  AggregatorRegistry.setRegistries([metrics.registry]);
  let signalled = false;
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, () => (signalled = true));
  // The graceful stop of runServices (close-with-grace) starts on a signal; a second one would
  // force exit, so a worker that got the terminal's Ctrl-C itself is not signalled again.
  const stop = () => {
    if (signalled) return;
    signalled = true;
    process.kill(process.pid, 'SIGTERM');
  };
  process.on('message', (m: Message) => m?.type === SHUTDOWN && stop());
  process.on('disconnect', stop);
  return { ready: () => process.send?.({ type: READY }) };
}

/** Metrics whose exposition is the sum over every worker of the cluster, asked of the primary. */
export class WorkerMetrics extends Metrics {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();

  constructor(prefix: string, options: ConstructorParameters<typeof Metrics>[1]) {
    super(prefix, options);
    process.on('message', (m: Message) => {
      if (m?.type !== METRICS_RES || m.id === undefined) return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(`metrics of the collector processes: ${m.error}`));
      else w?.resolve(m.text ?? '');
    });
  }

  override text(): Promise<string> {
    const id = this.next++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error('the primary collector process did not answer for metrics within 6 s'));
      }, 6_000);
      const done = <T>(f: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        f(v);
      };
      this.waiting.set(id, { resolve: done(resolve), reject: done(reject) });
      process.send?.({ type: METRICS_REQ, id });
    });
  }
}
