/**
 * At most one run of a job at a time, across schedulers and machines: a Redis lock with
 * expiry (SET NX PX with a random token), renewed while the job runs and released with a
 * compare-and-delete, so a scheduler that dies frees its jobs after one TTL at most.
 *
 * A second guard makes each cron slot run once: two schedulers fire the same slot a few
 * milliseconds apart, and the second would otherwise take the lock the first just released.
 * `claimSlot` is a SET NX on `slot:<job>:<time>` that outlives the slot.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../core/redis-client.ts';
import { DependencyError } from '../core/errors.ts';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface HeldLock {
  readonly key: string;
  /** Aborted when a renewal finds the lock gone or owned by someone else. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface JobLock {
  /** Undefined when another holder has it; the holder's description in `heldBy`. */
  acquire(job: string): Promise<HeldLock | undefined>;
  holder(job: string): Promise<string | undefined>;
  /** True for the first claimant of a cron slot, false for everyone after. */
  claimSlot(job: string, slot: number, ttlMs: number): Promise<boolean>;
}

export interface RedisJobLockOptions {
  /** Key prefix, e.g. `twinlane:orchestration:` (tests use a unique one). */
  prefix: string;
  ttlMs: number;
  /** Who holds the lock, stored as part of the value for `jobs` and logs. */
  owner: string;
}

export class RedisJobLock implements JobLock {
  constructor(private readonly redis: RedisClient, private readonly options: RedisJobLockOptions) {}

  async acquire(job: string): Promise<HeldLock | undefined> {
    const key = `${this.options.prefix}lock:${job}`;
    const token = `${this.options.owner}/${randomUUID()}`;
    const ok = await this.call(() => this.redis.set(key, token, 'PX', this.options.ttlMs, 'NX'));
    if (ok !== 'OK') return undefined;
    const controller = new AbortController();
    const renew = async () => {
      try {
        const r = (await this.redis.eval(RENEW, 1, key, token, String(this.options.ttlMs))) as number;
        if (r !== 1) controller.abort(new DependencyError('LOCK_LOST', `lock ${key} expired or was taken over while the job ran`));
      } catch {
        // Redis briefly unreachable: the lock keeps its TTL; the next renewal tries again.
      }
    };
    const timer = setInterval(() => void renew(), Math.max(50, Math.floor(this.options.ttlMs / 3)));
    timer.unref();
    let released = false;
    return {
      key,
      lost: controller.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.call(() => this.redis.eval(RELEASE, 1, key, token)).catch(() => undefined);
      },
    };
  }

  async holder(job: string): Promise<string | undefined> {
    const v = await this.call(() => this.redis.get(`${this.options.prefix}lock:${job}`));
    return v ?? undefined;
  }

  async claimSlot(job: string, slot: number, ttlMs: number): Promise<boolean> {
    const key = `${this.options.prefix}slot:${job}:${slot}`;
    return (await this.call(() => this.redis.set(key, this.options.owner, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new DependencyError('LOCK_UNAVAILABLE', `job lock store (Redis) failed: ${(err as Error).message}`, err);
    }
  }
}

/** In-process lock for unit tests and single-process tools. */
export class MemoryJobLock implements JobLock {
  private readonly held = new Map<string, string>();
  private readonly slots = new Set<string>();
  constructor(private readonly owner = 'memory') {}

  async acquire(job: string): Promise<HeldLock | undefined> {
    if (this.held.has(job)) return undefined;
    this.held.set(job, this.owner);
    const controller = new AbortController();
    return {
      key: job,
      lost: controller.signal,
      release: async () => void this.held.delete(job),
    };
  }

  async holder(job: string): Promise<string | undefined> {
    return this.held.get(job);
  }

  async claimSlot(job: string, slot: number): Promise<boolean> {
    const key = `${job}:${slot}`;
    if (this.slots.has(key)) return false;
    this.slots.add(key);
    return true;
  }
}
