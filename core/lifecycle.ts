import closeWithGrace from 'close-with-grace';
import type { Logger } from './logger.ts';

/** Every long-lived component: start and stop are safe to call twice; stop drains. */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Makes start/stop idempotent and serialised for a component, so callers never have to
 * track whether it already runs.
 */
export abstract class BaseService implements Service {
  abstract readonly name: string;
  private state: 'idle' | 'starting' | 'running' | 'stopping' = 'idle';
  private pending: Promise<void> = Promise.resolve();

  protected abstract onStart(): Promise<void>;
  protected abstract onStop(): Promise<void>;

  get running(): boolean {
    return this.state === 'running' || this.state === 'starting';
  }

  start(): Promise<void> {
    this.pending = this.pending.then(async () => {
      if (this.state === 'running') return;
      this.state = 'starting';
      try {
        await this.onStart();
        this.state = 'running';
      } catch (err) {
        this.state = 'idle';
        throw err;
      }
    });
    return this.pending;
  }

  stop(): Promise<void> {
    this.pending = this.pending
      .catch(() => undefined)
      .then(async () => {
        if (this.state === 'idle') return;
        this.state = 'stopping';
        try {
          await this.onStop();
        } finally {
          this.state = 'idle';
        }
      });
    return this.pending;
  }
}

/**
 * Asked once when shutdown begins: a shorter limit for it and why (for example, the broker is
 * gone, so nothing a consumer still waits for can complete), or undefined for the full timeout.
 */
export type StopDeadline = () => Promise<{ ms: number; reason: string } | undefined>;

export interface RunServicesOptions {
  /** The longest a graceful stop may take before the process exits anyway (default 15 s). */
  stopTimeoutMs?: number;
  stopDeadline?: StopDeadline;
}

/** Resolves when the deadline (counted from `since`) passes; never when there is none. */
async function cutShort(deadline: StopDeadline | undefined, since: number, logger: Logger): Promise<void> {
  const d = await deadline?.().catch(() => undefined);
  if (!d) return new Promise<void>(() => undefined);
  await new Promise((r) => setTimeout(r, Math.max(0, since + d.ms - Date.now())));
  logger.warn({ event: 'shutdown_cut_short', reason: d.reason, after_ms: d.ms }, `stopping without waiting further: ${d.reason}`);
}

/**
 * Starts services in order and, on SIGINT/SIGTERM/SIGHUP or a fatal error, stops them in reverse
 * order (HTTP first, then schedulers, consumers, producers, stores). A second signal, the
 * timeout or the stop deadline forces exit.
 */
export async function runServices(services: readonly Service[], logger: Logger, options: RunServicesOptions = {}): Promise<void> {
  const started: Service[] = [];
  const stopAll = async () => {
    for (const s of [...started].reverse()) {
      try {
        await s.stop();
        logger.info({ event: 'service_stopped', service: s.name });
      } catch (err) {
        logger.error({ event: 'service_stop_failed', service: s.name, err });
      }
    }
  };
  closeWithGrace({ delay: options.stopTimeoutMs ?? 15_000 }, async ({ signal, err }) => {
    const since = Date.now();
    if (err) logger.error({ event: 'fatal_error', err });
    else logger.info({ event: 'shutdown', signal });
    await Promise.race([stopAll(), cutShort(options.stopDeadline, since, logger)]);
  });
  try {
    for (const s of services) {
      await s.start();
      started.push(s);
      logger.info({ event: 'service_started', service: s.name });
    }
  } catch (err) {
    logger.error({ event: 'startup_failed', err });
    await stopAll();
    process.exit(1);
  }
}
