/**
 * Where the salts of IP hashes and cookieless visitor ids come from. Every collector process
 * must hash with the same salt, or one visitor would get one id per process and be counted
 * twice: the salt of a period (or local date) is created once, by whichever process asks first
 * (`SET NX`), with an expiry just past the period's end, so Redis forgets it soon after it is
 * no longer used and nothing reversible stays. Each process reads it once and caches it.
 *
 * Without Redis (tests, the dead-letter replay's own pipeline) the salts live in the process:
 * that case is per-process by construction.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../core/redis-client.ts';
import { DependencyError, errorMessage } from '../core/errors.ts';

/** A salt could not be read or created: the request gets 503 (never a salt of our own). */
export class SaltUnavailableError extends DependencyError {
  constructor(message: string, cause?: unknown) {
    super('SALT_UNAVAILABLE', message, cause);
  }
}

export interface SaltStore {
  /**
   * The salt named `name`, created at random by the first caller and forgotten after
   * `expiresAt` (epoch ms). Synchronous when the store is in memory.
   */
  salt(name: string, expiresAt: number): Buffer | Promise<Buffer>;
}

/** Salts of this process only (several processes hash differently). */
export class MemorySaltStore implements SaltStore {
  private readonly salts = new Map<string, { salt: Buffer; expiresAt: number }>();

  constructor(
    private readonly newSalt: () => Buffer = () => randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  salt(name: string, expiresAt: number): Buffer {
    const hit = this.salts.get(name);
    if (hit) return hit.salt;
    if (this.salts.size >= 1_000) this.forgetExpired();
    const salt = this.newSalt();
    this.salts.set(name, { salt, expiresAt });
    return salt;
  }

  private forgetExpired(): void {
    const now = this.now();
    for (const [name, s] of this.salts) if (s.expiresAt <= now) this.salts.delete(name);
    if (this.salts.size >= 1_000) this.salts.clear();
  }
}

export interface RedisSaltStoreOptions {
  /** Key prefix (default `tl:salt:`). */
  prefix?: string;
  /** A read that takes longer fails (the request gets 503) instead of holding requests. */
  timeoutMs?: number;
  newSalt?: () => Buffer;
}

/**
 * Salts shared by every collector process through Redis: one `SET key salt NX GET PXAT end`
 * (Redis ≥ 7.0) creates the salt or returns the one another process created first.
 */
export class RedisSaltStore implements SaltStore {
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly newSalt: () => Buffer;

  constructor(
    private readonly redis: RedisClient,
    options: RedisSaltStoreOptions = {},
  ) {
    this.prefix = options.prefix ?? 'tl:salt:';
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.newSalt = options.newSalt ?? (() => randomBytes(32));
  }

  /** The Redis key of a salt name (tests read its expiry). */
  key(name: string): string {
    return this.prefix + name;
  }

  async salt(name: string, expiresAt: number): Promise<Buffer> {
    const mine = this.newSalt().toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const before = (await Promise.race([this.redis.call('SET', this.key(name), mine, 'NX', 'GET', 'PXAT', String(Math.ceil(expiresAt))), timeout])) as string | null;
      const hex = before ?? mine;
      if (!/^(?:[0-9a-f]{2}){16,}$/.test(hex)) throw new Error(`${this.key(name)} does not hold a salt`);
      return Buffer.from(hex, 'hex');
    } catch (err) {
      throw new SaltUnavailableError(`the shared hashing salt could not be read from Redis: ${errorMessage(err)}`, err);
    } finally {
      clearTimeout(timer);
    }
  }
}
