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
 * Starts services in order and, on SIGINT/SIGTERM or a fatal error, stops them in reverse
 * order (HTTP first, then schedulers, consumers, producers, stores). A second signal or the
 * timeout forces exit.
 */
export async function runServices(services: readonly Service[], logger: Logger, options: { stopTimeoutMs?: number } = {}): Promise<void> {
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
    if (err) logger.error({ event: 'fatal_error', err });
    else logger.info({ event: 'shutdown', signal });
    await stopAll();
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
