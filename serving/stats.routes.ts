/**
 * The API routes: the Plausible-style query endpoint and its thin GET aliases (series,
 * totals, breakdown), realtime, funnel, coverage and the job ledger. Every stats route
 * checks the site's read key first, then parses, then answers in JSON, CSV or Arrow.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, badRequest } from './api.errors.ts';
import { chooseFormat, CONTENT_TYPES, toArrow, toCsv } from './output.formatter.ts';
import { buildQuery, filtersFromParams, parseDateRange, parseFunnelSteps, parseInt10, parseQueryBody, type ComparisonPart, type QueryParts, type SiteQueryContext } from './query.parser.ts';
import { parseFiltersParam } from './filter.parser.ts';
import type { ServingOptions } from './options.ts';
import type { StatsQuery } from './query.parser.ts';
import type { StatsResult, StatsService } from './stats.service.ts';
import type { JobsReader, SiteDirectory } from './types.ts';
import { DEFAULT_CURRENCY, DIMENSIONS } from '../core/views.ts';

export interface RouteDeps {
  stats: StatsService;
  sites: SiteDirectory;
  jobs?: JobsReader;
  options: ServingOptions;
  clock: () => number;
  /** Counts the buckets served as missing, for the metrics. */
  onMissing?: (buckets: number) => void;
}

type Params = Record<string, string | string[] | undefined>;

const RANGE_PARAMS = ['period', 'from', 'to', 'source', 'compare', 'compare_from', 'compare_to', 'filters', 'segment', 'goal', 'format', 'key', ...DIMENSIONS];
const ALLOWED: Record<string, readonly string[]> = {
  series: ['metrics', 'metric', 'grain', ...RANGE_PARAMS],
  totals: ['metrics', 'metric', ...RANGE_PARAMS],
  breakdown: ['metric', 'limit', 'offset', ...RANGE_PARAMS],
  funnel: ['steps', 'period', 'from', 'to', 'key', ...DIMENSIONS],
  plain: ['key'],
};

/** Catches typos (`grian=hour`) instead of silently ignoring them. */
function checkParams(params: Params, route: keyof typeof ALLOWED): void {
  for (const name of Object.keys(params)) {
    if (!ALLOWED[route]!.includes(name)) throw badRequest(`unknown parameter "${name.slice(0, 40)}"; expected one of ${ALLOWED[route]!.join(', ')}`);
    if (Array.isArray(params[name])) throw badRequest(`parameter "${name}" is given more than once`);
  }
}

function one(params: Params, name: string): string | undefined {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Whether `given` is `key`, compared in constant time (hashes of equal length). */
export function sameKey(given: string | undefined, key: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(key).digest();
  return timingSafeEqual(a, b);
}

/** The read key from `Authorization: Bearer`, `x-twinlane-key` or `?key=`. */
export function readKeyOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const header = req.headers['x-twinlane-key'];
  if (typeof header === 'string') return header;
  const key = (req.query as Params | undefined)?.key;
  return typeof key === 'string' ? key : undefined;
}

export function authorizeSite(sites: SiteDirectory, site: string, key: string | undefined): void {
  if (!sites.get(site)) throw new ApiError('SITE_NOT_FOUND', `unknown site "${site.slice(0, 64)}"`);
  if (!key) throw new ApiError('UNAUTHORIZED', `no read key given for site "${site}": send Authorization: Bearer <read key>`);
  if (!sites.authorizeRead(site, key)) throw new ApiError('FORBIDDEN', `this key cannot read site "${site}"`);
}

function rangeOf(params: Params): string | [string, string] {
  const from = one(params, 'from');
  const to = one(params, 'to');
  if ((from === undefined) !== (to === undefined)) throw badRequest('give both from and to, or neither (then period=, default 7d)');
  return from !== undefined && to !== undefined ? [from, to] : one(params, 'period') ?? '7d';
}

/** `compare=previous_period|year_over_year|custom` (custom with compare_from and compare_to); `true` is previous_period. */
function compareOf(params: Params): ComparisonPart | undefined {
  const c = one(params, 'compare');
  const from = one(params, 'compare_from');
  const to = one(params, 'compare_to');
  if ((from === undefined) !== (to === undefined)) throw badRequest('give both compare_from and compare_to, or neither');
  if (c === undefined || c === '' || c === 'false') {
    if (from !== undefined) throw badRequest('compare_from and compare_to need compare=custom');
    return undefined;
  }
  return { mode: c === 'true' ? 'previous_period' : c, ...(from !== undefined && to !== undefined ? { range: [from, to] as const } : {}) };
}

function aliasParts(site: string, params: Params, dimension: string | undefined, defaultMetric: string, options: ServingOptions, properties: readonly string[] = []): QueryParts {
  const metrics = one(params, 'metrics') ?? one(params, 'metric') ?? defaultMetric;
  const comparison = compareOf(params);
  return {
    site,
    metrics: metrics.split(',').map((m) => m.trim()).filter(Boolean),
    range: rangeOf(params),
    dimension,
    filters: parseFiltersParam(one(params, 'filters'), options, { filters: filtersFromParams(params), conditions: [] }, properties),
    segment: one(params, 'segment'),
    goal: one(params, 'goal'),
    limit: one(params, 'limit'),
    offset: one(params, 'offset'),
    source: one(params, 'source'),
    ...(comparison ? { comparison } : {}),
  };
}

async function send(reply: FastifyReply, req: FastifyRequest, result: StatsResult, deps: RouteDeps): Promise<unknown> {
  deps.onMissing?.(result.meta.missing_buckets);
  const format = chooseFormat(one(req.query as Params, 'format'), req.headers.accept);
  reply.header('content-type', CONTENT_TYPES[format]);
  reply.header('x-twinlane-watermark', result.meta.watermark ?? 'none');
  if (format === 'csv') return toCsv(result);
  if (format === 'arrow') return Buffer.from(toArrow(result));
  // A cached result is serialized once, not once per request.
  let json = serialized.get(result);
  if (json === undefined) serialized.set(result, (json = JSON.stringify(result)));
  return json;
}

const serialized = new WeakMap<StatsResult, string>();

export function registerStatsRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { sites, options, clock } = deps;
  /** Every answer sums revenue in the site's reporting currency (contract 10). */
  const run = (q: StatsQuery) => deps.stats.run({ ...q, currency: sites.get(q.site)?.currency ?? DEFAULT_CURRENCY });
  /** Date ranges and buckets are the site's local ones (contract 9). */
  const zoneOf = (site: string) => sites.get(site)?.timezone ?? 'UTC';
  /** A site's saved segments and goals (sites file `segments`, `goals`). */
  const segmentsOf = (site: string): SiteQueryContext => ({ segments: (name) => sites.get(site)?.segments?.find((g) => g.name === name)?.filters, goals: sites.get(site)?.goals ?? [], properties: sites.get(site)?.properties ?? [] });
  const stats = { run, realtime: deps.stats.realtime.bind(deps.stats), funnel: deps.stats.funnel.bind(deps.stats), coverage: deps.stats.coverage.bind(deps.stats) };

  app.post('/api/v2/query', async (req, reply) => {
    checkParams(req.query as Params, 'series');
    const site = (req.body as { site_id?: unknown } | null)?.site_id;
    if (typeof site !== 'string') throw badRequest('query body: site_id: expected the site id as a string');
    authorizeSite(sites, site, readKeyOf(req));
    return send(reply, req, await stats.run(parseQueryBody(req.body, clock(), options, zoneOf(site), segmentsOf(site))), deps);
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/series', async (req, reply) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    const params = req.query as Params;
    checkParams(params, 'series');
    const grain = one(params, 'grain');
    return send(reply, req, await stats.run(buildQuery(aliasParts(req.params.site, params, grain ? `time:${grain}` : 'time', 'pageviews', options, segmentsOf(req.params.site).properties), clock(), options, zoneOf(req.params.site), segmentsOf(req.params.site))), deps);
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/totals', async (req, reply) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    const params = req.query as Params;
    checkParams(params, 'totals');
    return send(reply, req, await stats.run(buildQuery(aliasParts(req.params.site, params, undefined, 'pageviews,visitors', options, segmentsOf(req.params.site).properties), clock(), options, zoneOf(req.params.site), segmentsOf(req.params.site))), deps);
  });

  app.get<{ Params: { site: string; dimension: string } }>('/v1/sites/:site/breakdown/:dimension', async (req, reply) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    const params = req.query as Params;
    checkParams(params, 'breakdown');
    if (req.params.dimension.startsWith('time')) throw badRequest('breakdown by time is a series: use /v1/sites/:site/series');
    // `country,device`: a breakdown by several dimensions.
    const [first, ...more] = req.params.dimension.split(',');
    return send(reply, req, await stats.run(buildQuery({ ...aliasParts(req.params.site, params, first, 'pageviews', options, segmentsOf(req.params.site).properties), ...(more.length ? { moreDimensions: more } : {}) }, clock(), options, zoneOf(req.params.site), segmentsOf(req.params.site))), deps);
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/realtime', async (req) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    checkParams(req.query as Params, 'plain');
    return stats.realtime(req.params.site);
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/funnel', async (req) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    const params = req.query as Params;
    checkParams(params, 'funnel');
    const steps = parseFunnelSteps(one(params, 'steps'), options);
    const { from, to } = parseDateRange(rangeOf(params), clock(), options, zoneOf(req.params.site));
    return stats.funnel(req.params.site, from, to, steps, filtersFromParams(params), zoneOf(req.params.site));
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/segments', async (req) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    checkParams(req.query as Params, 'plain');
    return { segments: (sites.get(req.params.site)?.segments ?? []).map((g) => ({ name: g.name, filters: g.filters })) };
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/properties', async (req) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    checkParams(req.query as Params, 'plain');
    return { properties: [...(sites.get(req.params.site)?.properties ?? [])] };
  });

  app.get<{ Params: { site: string } }>('/v1/sites/:site/coverage', async (req) => {
    authorizeSite(sites, req.params.site, readKeyOf(req));
    checkParams(req.query as Params, 'plain');
    return stats.coverage(req.params.site, zoneOf(req.params.site));
  });

  // Operator data across all sites (hosts, errors, drift with revenue): only with an admin key
  // configured, and only for it; without one the routes do not exist.
  const jobs = deps.jobs;
  const adminKey = options.adminKey;
  if (jobs && adminKey) {
    const checkAdmin = (req: FastifyRequest) => {
      if (!sameKey(readKeyOf(req), adminKey)) throw new ApiError('UNAUTHORIZED', 'the job ledger needs the admin key (SERVING_ADMIN_KEY): send Authorization: Bearer <admin key>');
    };
    app.get('/v1/jobs', async (req) => {
      checkAdmin(req);
      const limit = parseInt10(one(req.query as Params, 'limit'), 'limit', 1, 500, 50);
      return { jobs: await jobs.list(limit) };
    });
    app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => {
      checkAdmin(req);
      const job = await jobs.get(req.params.id);
      if (!job) throw new ApiError('NOT_FOUND', `no job "${req.params.id.slice(0, 80)}"`);
      return job;
    });
  }
}
