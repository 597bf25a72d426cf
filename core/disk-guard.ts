/**
 * Free space under DATA_DIR, watched: the lake archiver, the dead-letter archiver and the batch job
 * write there, and a full disk would stop them mid-write. Below the threshold they pause instead
 * (consumers stop fetching and commit nothing, so Kafka keeps every record within its retention)
 * and resume by themselves once space returns; readiness says why meanwhile.
 */
import { statfs } from 'node:fs/promises';
import { DependencyError } from './errors.ts';
import { BaseService } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

/** Bytes an unprivileged process may still write on the filesystem holding `path`. */
export type FreeSpaceSource = (path: string) => Promise<number>;

export const statfsFreeBytes: FreeSpaceSource = async (path) => {
  const s = await statfs(path);
  return s.bavail * s.bsize;
};

export interface DiskGuardOptions {
  /** Names the guard in logs and metrics (`lake`, `dlq`, `batch`). */
  name: string;
  path: string;
  minFreeBytes: number;
  intervalMs: number;
  logger?: Logger;
  metrics?: Metrics;
  /** Where free space is read from; statfs by default (tests on machines that forbid mounting set their own). */
  freeBytes?: FreeSpaceSource;
}

export interface Readiness {
  ready: boolean;
  reason?: string;
}

type Listener = (low: boolean) => void;

export class DiskGuard extends BaseService {
  readonly name: string;
  private timer: NodeJS.Timeout | undefined;
  private listeners: Listener[] = [];
  private stopped = false;
  private isLow = false;
  private free = Number.POSITIVE_INFINITY;
  private readonly m;

  constructor(private readonly o: DiskGuardOptions) {
    super();
    this.name = `disk-guard-${o.name}`;
    this.m = o.metrics && {
      free: o.metrics.gauge('disk_free_bytes', 'Free bytes on the filesystem a writer keeps its data on', ['store']),
      paused: o.metrics.gauge('disk_paused', '1 while a writer pauses because free space is below DISK_MIN_FREE', ['store']),
      pauses: o.metrics.counter('disk_pauses_total', 'Times a writer paused for want of free space', ['store']),
    };
  }

  /** Below the threshold at the last check. */
  get low(): boolean {
    return this.isLow;
  }

  get freeBytes(): number {
    return this.free;
  }

  readiness(): Readiness {
    return this.isLow ? { ready: false, reason: `paused: ${this.free} bytes free under ${this.o.path}, below DISK_MIN_FREE (${this.o.minFreeBytes})` } : { ready: true };
  }

  /** Called with the new state on every change (true: low). */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /**
   * Resolves at once when there is space, else once it returns (checked every interval, whether or
   * not the guard runs as a service). Rejects (retriable DISK_LOW) when the guard is stopped first.
   */
  async waitForSpace(): Promise<void> {
    while (await this.check()) {
      if (this.stopped) throw new DependencyError('DISK_LOW', `stopped while ${this.o.path} had ${this.free} bytes free, below DISK_MIN_FREE (${this.o.minFreeBytes})`);
      await new Promise((r) => setTimeout(r, this.o.intervalMs));
    }
  }

  /** Reads free space now and applies the change; a failed read keeps the last state (logged). */
  async check(): Promise<boolean> {
    let free: number;
    try {
      free = await (this.o.freeBytes ?? statfsFreeBytes)(this.o.path);
    } catch (err) {
      this.o.logger?.warn({ event: 'disk_check_failed', store: this.o.name, path: this.o.path, err });
      return this.isLow;
    }
    this.free = free;
    this.m?.free.set({ store: this.o.name }, free);
    const low = free < this.o.minFreeBytes;
    if (low !== this.isLow) {
      this.isLow = low;
      this.m?.paused.set({ store: this.o.name }, low ? 1 : 0);
      if (low) {
        this.m?.pauses.inc({ store: this.o.name });
        this.o.logger?.warn({ event: 'disk_low_paused', store: this.o.name, path: this.o.path, free_bytes: free, min_free_bytes: this.o.minFreeBytes }, `${this.o.name}: pausing, ${free} bytes free is below DISK_MIN_FREE`);
      } else {
        this.o.logger?.info({ event: 'disk_space_resumed', store: this.o.name, path: this.o.path, free_bytes: free }, `${this.o.name}: space is back, resuming`);
      }
      for (const l of this.listeners) l(low);
    }
    return low;
  }

  protected async onStart(): Promise<void> {
    this.stopped = false;
    await this.check();
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
  }

  protected async onStop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true; // a waiter gives up instead of holding a stopping process
  }
}
