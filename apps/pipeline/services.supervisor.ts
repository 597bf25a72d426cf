/**
 * The pipeline's services as detached child processes with PID files in .local/stack/ (the same
 * bookkeeping as the local stack), so a second `make pipeline` reuses what runs and `stop`
 * ends exactly the processes this supervisor started.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigValues } from '../../core/config.ts';
import { ARCHIVER_NODE_ARGS } from '../../batch/index.ts';
import { logFile, pidFile, runningPid, startDetached, stopPid, waitFor, type StackPaths } from '../../core/processes.ts';

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
    const pid = startDetached(this.paths, this.pidName(spec), process.execPath, [...(spec.nodeArgs ?? []), '--import', 'tsx', join(this.paths.root, spec.entry)], { ...this.env, ...spec.env });
    const status: ServiceStatus = { spec, state: 'started', pid, log };
    this.started.push(status);
    await waitFor(spec.name, () => answersHttp(spec.port), readyTimeoutMs, () => this.running(spec) === undefined);
    return status;
  }

  /** Stops the services this supervisor started, last started first (SIGTERM, then SIGKILL). */
  async stopStarted(log: (line: string) => void): Promise<void> {
    for (const s of this.started.splice(0).reverse()) {
      if (!s.pid) continue;
      const how = this.running(s.spec) ? await stopPid(s.pid, 20_000) : 'had already exited';
      rmSync(pidFile(this.paths, this.pidName(s.spec)), { force: true });
      log(`${s.spec.name.padEnd(14)} ${how} (pid ${s.pid})`);
    }
  }

  /** Services this supervisor started that are no longer running, with the end of their logs. */
  exited(): { status: ServiceStatus; logTail: string }[] {
    return this.started
      .filter((s) => this.running(s.spec) === undefined)
      .map((status) => ({ status, logTail: status.log && existsSync(status.log) ? readFileSync(status.log, 'utf8').split('\n').slice(-6).join('\n') : '' }));
  }
}
