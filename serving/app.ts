/**
 * `buildServingApp(deps)`: the serving API and dashboard as a Fastify instance that never listens
 * (tests use `inject()`, the entry point calls `listen`). Request metrics, the error
 * catalogue, OpenAPI and the docs page are wired here; the routes live in their own files.
 */
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { httpServerOptions, type HttpLimits } from '../core/http-limits.ts';
import { rateLimitPlugin, type RateLimitSetup } from '../core/rate-limit.ts';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { silentLogger, type Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, Metrics } from '../core/metrics.ts';
import { toHttpError } from './api.errors.ts';
import { registerDashboardRoutes } from './dashboard.routes.ts';
import { registerExportRoutes, type ExportPort } from './export.routes.ts';
import { openApiDocument } from './openapi.ts';
import { servingOptions, type ServingOptions } from './options.ts';
import { ResultCache } from './result.cache.ts';
import { StatsService } from './stats.service.ts';
import { registerStatsRoutes } from './stats.routes.ts';
import type { BatchSource, JobsReader, SiteDirectory, SpeedViews } from './types.ts';

export interface ServingDeps {
  batch: BatchSource;
  speed: SpeedViews;
  sites: SiteDirectory;
  /** The orchestration's job ledger; `/v1/jobs` exists only when it is given. */
  jobs?: JobsReader;
  logger?: Logger;
  metrics?: Metrics;
  options?: Partial<ServingOptions>;
  clock?: () => number;
  /** Connection, request and header limits (default: DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  /** Requests per client address and per site, shared by every serving process (absent: none). */
  rateLimit?: Pick<RateLimitSetup, 'limits' | 'redis' | 'keyPrefix'>;
  /** Raw-event and view exports (transfer/); `/v1/export/:site` exists only when given. */
  exports?: ExportPort;
}

export interface ServingApp {
  app: FastifyInstance;
  metrics: Metrics;
  cache: ResultCache;
}

function registerMetrics(app: FastifyInstance, metrics: Metrics) {
  const requests = metrics.counter('serving_requests_total', 'HTTP requests by route and status', ['route', 'method', 'status']);
  const latency = metrics.histogram('serving_request_duration_seconds', 'HTTP request latency by route', ['route'], LATENCY_BUCKETS);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    latency.observe({ route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.text();
  });
}

export async function buildServingApp(deps: ServingDeps): Promise<ServingApp> {
  const options = servingOptions(deps.options);
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? new Metrics('twinlane_');
  const cache = new ResultCache(options.cacheEntries, Date.now, options.cacheBytes);
  const cacheLookups = metrics.counter('serving_cache_lookups_total', 'Result-cache look-ups by store and result', ['store', 'result']);
  const missing = metrics.counter('serving_missing_buckets_total', 'Buckets answered as missing (no store covers them)');
  const stats = new StatsService({
    batch: deps.batch,
    speed: deps.speed,
    cache,
    options,
    clock,
    observeCache: (store, hit) => cacheLookups.inc({ store, result: hit ? 'hit' : 'miss' }),
  });

  // Fastify logs every request at info; ours log only what goes wrong.
  const app = Fastify({ loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: 64 * 1024, routerOptions: { maxParamLength: 200 }, ...httpServerOptions(deps.httpLimits) });
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.status >= 500) logger.error({ event: 'request_failed', url: req.url, err }, 'request failed');
    reply.status(e.status).send({ error: { code: e.code, message: e.message } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}; see /docs` } });
  });

  // Before every route, so its hooks run for all of them; a site counts when the path names one of ours.
  if (deps.rateLimit) {
    const siteOf = (req: FastifyRequest) => {
      const site = (req.params as { site?: unknown } | undefined)?.site;
      return typeof site === 'string' && deps.sites.get(site) ? site : undefined;
    };
    await app.register(rateLimitPlugin({ ...deps.rateLimit, service: 'serving', metrics, siteOf }));
  }
  registerMetrics(app, metrics);
  // Read keys travel in headers, never cookies, so any origin may call the API.
  await app.register(cors, { origin: '*', methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type', 'x-twinlane-key'] });
  await app.register(swagger, { mode: 'static', specification: { document: openApiDocument() as never } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', async () => app.swagger());
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/', async (_req, reply) => reply.redirect('/docs'));

  registerStatsRoutes(app, { stats, sites: deps.sites, jobs: deps.jobs, options, clock, onMissing: (n) => n > 0 && missing.inc(n) });
  registerDashboardRoutes(app, { sites: deps.sites, options });
  if (deps.exports) registerExportRoutes(app, { exports: deps.exports, sites: deps.sites });
  return { app, metrics, cache };
}
