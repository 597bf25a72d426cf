/**
 * The collector's HTTP surface, built by `buildCollectorApp(deps)`, which never listens
 * (tests use inject(), the service listens):
 *   POST /v1/collect   one event or an array; JSON or text/plain (sendBeacon); gzip allowed
 *   OPTIONS /v1/collect  CORS preflight, per site's allowed origins
 *   GET /t.js          the browser tracker
 *   GET /healthz, /readyz, /metrics
 */
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.ts';
import { httpServerOptions, type HttpLimits } from '../core/http-limits.ts';
import { RateLimitedError, rateLimitPlugin, type RateLimitSetup } from '../core/rate-limit.ts';
import type { Metrics } from '../core/metrics.ts';
import { LATENCY_BUCKETS } from '../core/metrics.ts';
import type { Sites } from '../core/sites.ts';
import { CollectError } from './collect.errors.ts';
import type { CollectHandler, CollectReply } from './collect.handler.ts';
import type { Readiness } from './events.producer.ts';
import type { CollectorOptions } from './options.ts';
import { readBody } from './request-body.reader.ts';

export const TRACKER_SCRIPT: string = readFileSync(new URL('./browser.tracker.js', import.meta.url), 'utf8');

/** Bytes of an oversized body kept for its dead letter (the rest is never read). */
const OVERSIZE_KEEP_BYTES = 64 * 1024;

export interface CollectorAppDeps {
  handler: CollectHandler;
  sites: Sites;
  options: CollectorOptions;
  logger: Logger;
  metrics: Metrics;
  /** Fastify's trustProxy: which peers may set X-Forwarded-For (the client IP). */
  trustProxy: boolean | string | string[];
  /** Readiness: not ready while Kafka is known to be unreachable or a topic is missing, with the reason. */
  readiness: () => Readiness;
  /** Connection, request and header limits (default: DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  /** Requests per client address and per site, shared by every collector process (absent: none). */
  rateLimit?: CollectorRateLimit;
}

export type CollectorRateLimit = Pick<RateLimitSetup, 'limits' | 'redis' | 'keyPrefix'>;

type CollectQuery = { site?: string; key?: string };

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The site a request names (query or header), as given. */
function siteParam(request: FastifyRequest): string | undefined {
  const v = (request.query as Record<string, string | string[] | undefined>).site;
  return (Array.isArray(v) ? v[0] : v) ?? headerValue(request.headers['x-twinlane-site']);
}

function knownSite(sites: Sites, site: string | undefined): string | undefined {
  return site !== undefined && sites.get(site) ? site : undefined;
}

export function buildCollectorApp(deps: CollectorAppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One log line per request would dominate at tens of thousands of events per second; metrics count them.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustProxy, bodyLimit: deps.options.bodyLimit,
    ...httpServerOptions(deps.httpLimits) });
  // First, so its hooks run for every route below; only sites of ours are counted per site.
  if (deps.rateLimit) app.register(rateLimitPlugin({ ...deps.rateLimit, service: 'collector', metrics: deps.metrics, siteOf: (req) => knownSite(deps.sites, siteParam(req)) }));
  const duration = deps.metrics.histogram('collector_request_seconds', 'Collect request duration, received to answered', ['status'], LATENCY_BUCKETS);

  // Bodies are read raw, whatever the Content-Type: the handler decides (415, gzip, UTF-8, JSON).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
    readBody(payload, deps.options.bodyLimit, OVERSIZE_KEEP_BYTES, Number.isFinite(declared) ? declared : undefined).then(
      (body) => done(null, body),
      (err: Error) => done(err, undefined),
    );
  });

  const cors = (request: FastifyRequest, reply: FastifyReply, siteId: string | undefined): void => {
    const origin = request.headers.origin;
    const site = siteId === undefined ? undefined : deps.sites.get(siteId);
    if (origin && site?.allowsOrigin(origin)) {
      reply.header('access-control-allow-origin', origin);
      // The tracker backs off by Retry-After on 429/503; a browser hides it from scripts unless exposed.
      reply.header('access-control-expose-headers', 'Retry-After');
      reply.header('vary', 'Origin');
    }
  };

  const send = (reply: FastifyReply, r: CollectReply, started: bigint) => {
    duration.observe({ status: String(r.status) }, Number(process.hrtime.bigint() - started) / 1e9);
    if (r.status === 413) reply.header('connection', 'close'); // the unread rest of the body goes with the socket
    return reply.code(r.status).headers(r.headers).send(r.body);
  };

  /** A parameter given once, or its first value (the route then refuses the request: singleQuery). */
  const param = (request: FastifyRequest, name: keyof CollectQuery): string | undefined => {
    const v = (request.query as Record<string, string | string[] | undefined>)[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const siteOf = (request: FastifyRequest) => param(request, 'site') ?? headerValue(request.headers['x-twinlane-site']);
  /** `site` and `key` given more than once are refused: which one would count is anyone's guess. */
  const singleQuery = (request: FastifyRequest): void => {
    for (const [name, v] of Object.entries(request.query as Record<string, unknown>)) {
      if (!Array.isArray(v)) continue;
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      throw new CollectError('REPEATED_PARAMETER', `parameter "${name.slice(0, 40)}" is given ${v.length} times; give it once`, { bytes: body, format: headerValue(request.headers['content-encoding']) ? 'binary' : 'json' });
    }
  };

  app.setErrorHandler(async (err: Error & { statusCode?: number }, request, reply) => {
    const started = process.hrtime.bigint();
    const siteId = siteOf(request);
    cors(request, reply, siteId);
    if (err instanceof CollectError) {
      // Refused before the route ran (body too large, a repeated parameter): authenticated only when its site and key are right.
      const authenticated = deps.sites.authorizeWrite(siteId, param(request, 'key') ?? headerValue(request.headers['x-twinlane-key'])).ok;
      return send(reply, await deps.handler.reject(err, { siteId, receivedAt: Date.now(), authenticated }), started);
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) deps.logger.error({ event: 'collector_request_failed', err }, 'unexpected error');
    const code = status === 500 ? 'INTERNAL' : err instanceof RateLimitedError ? err.code : 'BAD_REQUEST';
    return reply.code(status).send({ error: { code, message: status === 500 ? 'internal error' : err.message } });
  });

  app.post('/v1/collect', async (request, reply) => {
    const started = process.hrtime.bigint();
    singleQuery(request);
    const siteId = siteOf(request);
    cors(request, reply, siteId);
    const result = await deps.handler.handle({
      raw: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
      contentType: request.headers['content-type'],
      contentEncoding: headerValue(request.headers['content-encoding']),
      siteId,
      writeKey: param(request, 'key') ?? headerValue(request.headers['x-twinlane-key']),
      origin: request.headers.origin,
      ip: request.ip,
      userAgent: request.headers['user-agent'],
      receivedAt: Date.now(),
    });
    return send(reply, result, started);
  });

  app.options('/v1/collect', async (request, reply) => {
    const siteId = siteOf(request);
    const origin = request.headers.origin;
    const site = siteId === undefined ? undefined : deps.sites.get(siteId);
    if (!origin || !site?.allowsOrigin(origin)) {
      return reply.code(403).send({ error: { code: 'ORIGIN_NOT_ALLOWED', message: `origin ${origin ?? '(none)'} is not allowed for site "${siteId ?? ''}"` } });
    }
    return reply
      .code(204)
      .header('access-control-allow-origin', origin)
      .header('vary', 'Origin')
      .header('access-control-allow-methods', 'POST, OPTIONS')
      .header('access-control-allow-headers', 'content-type, content-encoding, x-twinlane-site, x-twinlane-key')
      .header('access-control-max-age', '86400')
      .send();
  });

  app.get('/t.js', async (_request, reply) =>
    reply
      .header('content-type', 'application/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .header('access-control-allow-origin', '*')
      .send(TRACKER_SCRIPT),
  );

  app.get('/healthz', async () => 'ok\n');
  app.get('/readyz', async (_request, reply) => {
    const r = deps.readiness();
    return r.ready ? reply.send('ready\n') : reply.code(503).send(`${r.reason}\n`);
  });
  app.get('/metrics', async (_request, reply) => reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.text()));
  return app;
}
