/**
 * The pipeline's services as detached child processes with PID files in .local/stack/ (the same
 * bookkeeping as the local stack), so a second `make pipeline` reuses what runs, `stopStarted`
 * ends exactly the processes this supervisor started, and `twinlane pipeline stop` (another
 * process) ends those the PID files name.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigValues } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { ARCHIVER_NODE_ARGS } from '../../batch/index.ts';
import { isAlive, logFile, pidFile, processesWith, runningPid, startDetached, stopPid, waitFor, type StackPaths } from '../../core/processes.ts';

export interface ServiceSpec {
  name: string;
  /** Entry file, relative to the repository root; also the marker that proves a PID is ours. */
  entry: string;
  /** Port that answers HTTP once the service is up (its API or its /metrics server). */
  port: number;
  what: string;
  /** Variables set for this service only (over the supervisor's environment). */
  env?: Record<string, string>;
  /** Node flags of the service's process. */
  nodeArgs?: readonly string[];
}

export type ServiceState = 'started' | 'reused' | 'external' | 'missing';

export interface ServiceStatus {
  spec: ServiceSpec;
  state: ServiceState;
  pid?: number;
  log?: string;
}

export function pipelineServices(c: ConfigValues): ServiceSpec[] {
  return [
    { name: 'collector', entry: 'apps/collector.main.ts', port: c.COLLECTOR_PORT, what: `collector       http://127.0.0.1:${c.COLLECTOR_PORT}/v1/collect` },
    ...speedInstances(c),
    { name: 'lake-archiver', entry: 'apps/lake-archiver.main.ts', port: c.LAKE_METRICS_PORT, what: `lake archiver   metrics :${c.LAKE_METRICS_PORT}`, nodeArgs: ARCHIVER_NODE_ARGS },
    { name: 'dlq-archiver', entry: 'apps/dlq-archiver.main.ts', port: c.DLQ_METRICS_PORT, what: `dlq archiver    metrics :${c.DLQ_METRICS_PORT}` },
    { name: 'serving', entry: 'apps/serving.main.ts', port: c.SERVING_PORT, what: `serving         http://127.0.0.1:${c.SERVING_PORT}` },
    { name: 'scheduler', entry: 'apps/scheduler.main.ts', port: c.SCHEDULER_METRICS_PORT, what: `scheduler       metrics :${c.SCHEDULER_METRICS_PORT}` },
  ];
}

/**
 * The speed consumer as SPEED_INSTANCES processes of one group: kafkajs fetches, processes and
 * fetches again, so one process leaves a core idle while Redis applies its batches; a second
 * overlaps them (the offset records keep shared partitions exact across rebalances).
 */
function speedInstances(c: ConfigValues): ServiceSpec[] {
  return Array.from({ length: c.SPEED_INSTANCES }, (_, i) => {
    const port = c.SPEED_METRICS_PORT + 100 * i;
    return { name: i === 0 ? 'speed' : `speed-${i + 1}`, entry: 'apps/speed.main.ts', port, what: `speed consumer  metrics :${port}`, env: { SPEED_METRICS_PORT: String(port) } };
  });
}

/** Any HTTP answer on the port counts: the service listens once it is ready. */
export async function answersHttp(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export class ServiceSupervisor {
  private readonly started: ServiceStatus[] = [];
  /** PIDs sent SIGTERM and not gone yet. */
  private readonly stopping = new Set<number>();
  private closed = false;

  constructor(private readonly paths: StackPaths, private readonly env: NodeJS.ProcessEnv) {}

  pidName(spec: ServiceSpec): string {
    return `svc-${spec.name}`;
  }

  running(spec: ServiceSpec): number | undefined {
    return runningPid(this.paths, this.pidName(spec), spec.entry);
  }

  async ensure(spec: ServiceSpec, readyTimeoutMs = 90_000): Promise<ServiceStatus> {
    if (!existsSync(join(this.paths.root, spec.entry))) return { spec, state: 'missing' };
    const log = logFile(this.paths, this.pidName(spec));
    const existing = this.running(spec);
    if (existing) return { spec, state: 'reused', pid: existing, log };
    if (await answersHttp(spec.port)) return { spec, state: 'external' };
    // Once stopping began, nothing new starts: the run's main flow may still be on its way here.
    if (this.closed) throw new UsageError('PIPELINE_STOPPING', `not starting ${spec.name}: the pipeline is stopping`);
    const pid = startDetached(this.paths, this.pidName(spec), process.execPath, [...(spec.nodeArgs ?? []), '--import', 'tsx', join(this.paths.root, spec.entry)], { ...this.env, ...spec.env });
    const status: ServiceStatus = { spec, state: 'started', pid, log };
    this.started.push(status);
    // Liveness by PID, not by `running()`: until the child has exec'd, its command line is still
    // this process's, and `running()` would take it for a recycled PID and drop its PID file.
    await waitFor(spec.name, () => answersHttp(spec.port), readyTimeoutMs, () => !isAlive(pid));
    return status;
  }

  /**
   * Stops the services this supervisor started, all at once (each drains on its own; none waits
   * for another): SIGTERM, then SIGKILL after `graceMs`. Nothing starts afterwards.
   */
  async stopStarted(log: (line: string) => void, graceMs = 20_000): Promise<void> {
    this.closed = true;
    await Promise.all(this.started.splice(0).reverse().map((s) => this.stopOne(s.spec, s.pid, log, graceMs, s.pid !== undefined && isAlive(s.pid))));
  }

  /**
   * Stops the services the PID files name, whoever started them (`twinlane pipeline stop`, for a
   * pipeline run that is gone); a PID whose command line is not the service's entry is left alone.
   */
  async stopRecorded(specs: readonly ServiceSpec[], log: (line: string) => void, graceMs = 20_000): Promise<number> {
    this.closed = true;
    const running: { spec: ServiceSpec; pid: number; unrecorded?: true }[] = specs.map((spec) => ({ spec, pid: this.running(spec) })).filter((r): r is { spec: ServiceSpec; pid: number } => r.pid !== undefined);
    // A run killed between spawning a service and writing its PID file leaves one without a file:
    // found by this root's entry path in its command line.
    const known = new Set(running.map((r) => r.pid));
    for (const spec of specs) {
      for (const pid of processesWith(join(this.paths.root, spec.entry))) {
        if (known.has(pid)) continue;
        known.add(pid);
        running.push({ spec, pid, unrecorded: true });
      }
    }
    await Promise.all(running.map((r) => this.stopOne(r.spec, r.pid, log, graceMs, true, r.unrecorded ? ' without a PID file' : '')));
    return running.length;
  }

  /** A second Ctrl-C: SIGKILL what is still stopping (as after a crash: offsets follow durable writes only). */
  killStopping(): void {
    for (const pid of this.stopping) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private async stopOne(spec: ServiceSpec, pid: number | undefined, log: (line: string) => void, graceMs: number, alive: boolean, note = ''): Promise<void> {
    if (!pid) return;
    const t0 = Date.now();
    this.stopping.add(pid);
    const how = alive ? await stopPid(pid, graceMs) : 'had already exited';
    this.stopping.delete(pid);
    if (!note) rmSync(pidFile(this.paths, this.pidName(spec)), { force: true });
    log(`${spec.name.padEnd(14)} ${how} (pid ${pid}${note}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }

  /**
   * Calls `onExit` once for each started service that stops running, checked every `everyMs`
   * until the stop begins: a service that dies after start-up is named with its log, not found
   * missing later.
   */
  watchExits(onExit: (dead: { status: ServiceStatus; logTail: string }) => void, everyMs = 2_000): void {
    const reported = new Set<ServiceStatus>();
    const timer = setInterval(() => {
      if (this.closed) return;
      for (const dead of this.exited()) {
        if (reported.has(dead.status)) continue;
        reported.add(dead.status);
        onExit(dead);
      }
    }, everyMs);
    timer.unref();
  }

  /** Services this supervisor started that are no longer running, with the end of their logs. */
  exited(): { status: ServiceStatus; logTail: string }[] {
    return this.started
      .filter((s) => this.running(s.spec) === undefined)
      .map((status) => ({ status, logTail: status.log && existsSync(status.log) ? readFileSync(status.log, 'utf8').split('\n').slice(-6).join('\n') : '' }));
  }
}
