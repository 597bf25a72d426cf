/**
 * Rate limits of our HTTP services, per client and per site (@fastify/rate-limit), counted in
 * Redis so every process of a service shares one limit (two collectors do not double it), by
 * leases of permits rather than a call per request (rate-limit.store.ts). The
 * client is the address Fastify resolved through the trusted proxies only (`trustProxy`): a
 * forwarded header from any other peer changes nothing. A site is counted only when it is one of
 * ours, so made-up site ids cannot mint counters; every counter expires with its window. Over a
 * limit: 429 with `Retry-After`. Redis down: requests pass (a limiter must not take the service
 * down) and `rate_limit_errors_total` counts it; give it a connection without an offline queue
 * (rateLimitRedis in core/clients.ts), so such a check fails at once instead of waiting.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { RedisClient } from './redis-client.ts';
import type { Metrics } from './metrics.ts';
import { formatDuration, type RateRule } from './durations.ts';
import { leasedRedisStore } from './rate-limit.store.ts';

export { parseRateRule, NO_LIMIT, type RateRule } from './durations.ts';

export interface RateLimits {
  client: RateRule;
  site: RateRule;
}

export interface RateLimitSetup {
  limits: RateLimits;
  redis: RedisClient;
  /** Redis key prefix of this service's counters (`<prefix>rl:<service>:`). */
  keyPrefix: string;
  service: 'collector' | 'serving';
  metrics: Metrics;
  /** The site of a request when it is one of ours, else undefined (not counted per site). */
  siteOf: (req: FastifyRequest) => string | undefined;
  /** Paths never limited (health and metrics probes). */
  exempt?: readonly string[];
}

/** The error a limited request is answered with (both services' error handlers pass code and status on). */
export class RateLimitedError extends Error {
  readonly statusCode = 429;
  readonly code = 'RATE_LIMITED';
}

/**
 * The limiter and its two hooks (client, then site) as a plugin that is not encapsulated, so its
 * hooks apply to every route registered after it: register it before the routes.
 */
export function rateLimitPlugin(s: RateLimitSetup): (app: FastifyInstance) => Promise<void> {
  const plugin = (app: FastifyInstance) => registerRateLimits(app, s);
  // fastify-plugin's marker: the hooks land in the parent context, not in a child of their own.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  return plugin;
}

async function registerRateLimits(app: FastifyInstance, s: RateLimitSetup): Promise<void> {
  const limited = s.metrics.counter('rate_limited_total', 'Requests answered 429 by scope', ['service', 'scope']);
  const errors = s.metrics.counter('rate_limit_errors_total', 'Rate-limit checks that failed (Redis unreachable; the request passed)', ['service']);
  // Store failures reach the hook below (skipOnError off), which counts them and lets the request pass.
  // Counted through leases of permits (rate-limit.store.ts), not one Redis call per request.
  await app.register(rateLimit, { global: false, store: leasedRedisStore(s.redis, `${s.keyPrefix}rl:${s.service}:`), skipOnError: false, hook: 'onRequest' });
  const exempt = new Set(s.exempt ?? ['/healthz', '/readyz', '/metrics']);
  const isExempt = (req: FastifyRequest) => exempt.has(req.url.split('?', 1)[0]!);
  const scopes: [scope: 'client' | 'site', rule: RateRule, key: (req: FastifyRequest) => string | undefined][] = [
    // An IPv6 client is its subnet (the plugin's default /56): one host holds many addresses of it.
    ['client', s.limits.client, (req) => normalizeIP(req.ip)],
    ['site', s.limits.site, (req) => s.siteOf(req)],
  ];
  // One check per scope through createRateLimit (the plugin's own hook runs once per request, so
  // two of them would not both count); the answer is ours: 429, Retry-After, our error shape.
  for (const [scope, rule, key] of scopes) {
    if (rule.max <= 0) continue;
    const check = app.createRateLimit({
      max: rule.max,
      timeWindow: rule.windowMs,
      keyGenerator: (req) => `${scope}:${key(req) ?? ''}`,
      allowList: (req) => isExempt(req) || key(req) === undefined,
    });
    const per = formatDuration(rule.windowMs);
    app.addHook('onRequest', async (req, reply) => {
      let r: Awaited<ReturnType<typeof check>>;
      try {
        r = await check(req);
      } catch {
        errors.inc({ service: s.service });
        return;
      }
      if (r.isAllowed || !r.isExceeded) return;
      limited.inc({ service: s.service, scope });
      const retryAfter = Math.max(1, r.ttlInSeconds);
      reply.header('retry-after', String(retryAfter));
      throw new RateLimitedError(`rate limit of the ${scope === 'client' ? 'client address' : 'site'}: ${rule.max} requests per ${per}; retry after ${retryAfter} s`);
    });
  }
}
