/**
 * A store for @fastify/rate-limit that shares counts through Redis without a Redis call per
 * request. A process leases permits from the shared counter (one INCRBY for a chunk) and spends
 * them locally; the chunk shrinks as the window fills (1/16 of what is left, at most 100), so
 * near the limit every request is counted in Redis one by one, and the processes together never
 * grant more than the limit. A permit leased and not spent is counted all the same: the limit can
 * only bite a little early, never late. Once the counter is past the limit, a process answers
 * from memory until the window expires (a count only falls by expiry).
 *
 * Measured (serving bench, 2 cores, generous limits): the plugin's own Redis store (two EVALs a
 * request) cost 20–34% of requests per second; see serving/README.md for this store's figures.
 */
import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import type { RedisClient } from './redis-client.ts';

/** The most permits one lease takes. */
const MAX_CHUNK = 100;
/** Above this many keys the local state is dropped (it is only a cache of Redis: nothing is lost). */
const MAX_KEYS = 50_000;

const LEASE_LUA = `
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl
if c == tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
end
return {c, ttl}`;

type LeaseRedis = RedisClient & { rateLimitLease(key: string, chunk: number, windowMs: number): Promise<[number, number]> };

interface KeyState {
  /** Permits leased and not yet spent. */
  permits: number;
  /** The shared count up to the last permit leased and granted. */
  issuedUpTo: number;
  /** The shared count at the last lease. */
  lastCount: number;
  /** When the window of the leased permits ends (epoch ms). */
  expiresAt: number;
  /** Past the limit until then: answered without Redis. */
  blockedUntil: number;
  lease: Promise<void> | null;
}

type Result = { current: number; ttl: number };
type Callback = (err: Error | null, res?: Result) => void;

export function leasedRedisStore(redis: RedisClient, prefix: string): new () => LeasedRedisStore {
  if (!(redis as unknown as Partial<LeaseRedis>).rateLimitLease) redis.defineCommand('rateLimitLease', { numberOfKeys: 1, lua: LEASE_LUA });
  return class extends LeasedRedisStore {
    constructor() {
      super(redis as unknown as LeaseRedis, prefix);
    }
  };
}

export class LeasedRedisStore implements FastifyRateLimitStore {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly redis: LeaseRedis,
    private readonly prefix: string,
  ) {}

  /** The plugin's store interface: count one request of `key`. */
  incr(key: string, cb: Callback, windowMs: number, max: number): void {
    this.take(key, windowMs, max).then(
      (r) => cb(null, r),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** One store serves every limiter of the app: keys carry their scope. */
  child(): LeasedRedisStore {
    return this;
  }

  private async take(key: string, windowMs: number, max: number): Promise<Result> {
    let s = this.keys.get(key);
    if (!s) {
      if (this.keys.size >= MAX_KEYS) this.sweep();
      s = { permits: 0, issuedUpTo: 0, lastCount: 0, expiresAt: 0, blockedUntil: 0, lease: null };
      this.keys.set(key, s);
    }
    for (;;) {
      const now = Date.now();
      if (s.blockedUntil > now) return { current: max + 1, ttl: s.blockedUntil - now };
      if (s.permits > 0 && s.expiresAt > now) {
        s.permits--;
        return { current: s.issuedUpTo - s.permits, ttl: s.expiresAt - now };
      }
      if (s.expiresAt <= now) s.permits = 0;
      // Requests arriving during a lease wait for it and then spend its permits (or lease again).
      s.lease ??= this.lease(key, s, windowMs, max).finally(() => (s.lease = null));
      await s.lease;
    }
  }

  private async lease(key: string, s: KeyState, windowMs: number, max: number): Promise<void> {
    const now = Date.now();
    const left = s.expiresAt > now ? max - s.lastCount : max;
    const chunk = Math.min(MAX_CHUNK, Math.max(1, Math.floor(left / 16)));
    const [count, ttl] = await this.redis.rateLimitLease(this.prefix + key, chunk, windowMs);
    const granted = Math.max(0, Math.min(chunk, max - (count - chunk)));
    s.lastCount = count;
    s.expiresAt = now + ttl;
    s.permits = granted;
    s.issuedUpTo = count - chunk + granted;
    if (granted === 0) s.blockedUntil = now + ttl;
  }

  /** Drops expired keys; all of them when that is not enough. */
  private sweep(): void {
    const now = Date.now();
    for (const [k, s] of this.keys) if (s.expiresAt <= now && s.blockedUntil <= now && !s.lease) this.keys.delete(k);
    if (this.keys.size >= MAX_KEYS) this.keys.clear();
  }
}
