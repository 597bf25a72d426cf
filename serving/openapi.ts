/**
 * The OpenAPI 3.1 document of the serving API, served at /openapi.json and rendered at /docs.
 * Written by hand from the same lists the parser validates against, so the two cannot drift
 * on metrics, dimensions or grains.
 */
import { DIMENSIONS, METRICS } from '../core/views.ts';
import { BREAKDOWN_METRICS, GRAINS } from './query.parser.ts';
import { GOAL_METRICS } from './goals.ts';
import { EXPORT_FORMATS } from './export.routes.ts';

const str = (description: string, extra: Record<string, unknown> = {}) => ({ type: 'string', description, ...extra });
const q = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }, required = false) => ({ name, in: 'query', required, description, schema });
const siteParam = { name: 'site', in: 'path', required: true, description: 'Site id', schema: { type: 'string' } };

const rangeParams = [
  q('period', "Relative range up to now, in the site's time zone: 30m, 24h, 7d (the last 7 local days, today included), today (default 7d). Ignored when from/to are given."),
  q('from', "Start: a local date of the site (YYYY-MM-DD), a local date-time without offset (2026-03-08T09:30; one the clocks skip is a 400), an ISO date-time with zone, or epoch ms"),
  q('to', 'End (exclusive; a date is inclusive): as from'),
  q('source', 'merged (default), or batch / speed to compare the two stores', { type: 'string', enum: ['merged', 'batch', 'speed'] }),
  q('compare', 'Adds the same query over another range: previous_period (as many buckets back), year_over_year (the same local dates a year before), custom (compare_from, compare_to)', { type: 'string', enum: ['previous_period', 'year_over_year', 'custom'] }),
  q('compare_from', 'Start of a custom comparison (as from)'),
  q('compare_to', 'End of a custom comparison (as to)'),
  q('filters', 'Filter clauses as JSON, as the query endpoint takes them: [["is_not","country",["DE","FR"]],["contains","page",["/blog/"]]] (operators is, is_not, contains, contains_not; several values ORed, clauses ANDed)'),
  q('segment', "A saved segment of the site by name (GET /v1/sites/{site}/segments): its filters are ANDed with the query's"),
  q('goal', 'A goal of the site by name: every metric under it (visitors = converting visitors); metrics conversions and conversion_rate'),
  q('format', 'json (default), csv, or arrow (Apache Arrow IPC stream); Accept works too', { type: 'string', enum: ['json', 'csv', 'arrow'] }),
  ...DIMENSIONS.map((d) => q(d, `Filter: ${d} equals this value (combinable)`)),
];

const errorResponse = { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const errors = { '400': errorResponse, '401': errorResponse, '403': errorResponse, '404': errorResponse, '422': errorResponse };
const statsResponse = {
  '200': {
    description: 'Result rows and metadata (watermark, per-bucket source, exactness, coverage)',
    content: {
      'application/json': { schema: { $ref: '#/components/schemas/StatsResult' } },
      'text/csv': { schema: { type: 'string' } },
      'application/vnd.apache.arrow.stream': { schema: { type: 'string', format: 'binary' } },
    },
  },
  ...errors,
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Twinlane serving API',
      version: '1.0.0',
      description:
        'Web and product analytics merged from the batch views (exact, before the watermark W) and the speed store (approximate uniques, from W on). ' +
        'Every response states W and, per bucket, its source and whether it is exact; buckets neither store covers are `missing` (null), never zero. ' +
        'Authenticate with the site read key: `Authorization: Bearer <key>` (or `x-twinlane-key`, or `?key=`).',
    },
    components: {
      securitySchemes: { readKey: { type: 'http', scheme: 'bearer', description: 'The read key of the site' } },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'object', properties: { code: str('Stable error code'), message: str('What is wrong and what is expected') } } } },
        Meta: {
          type: 'object',
          properties: {
            watermark: str('Batch watermark W (ISO), null before the first batch run', { nullable: true }),
            batch_version: str('Batch version that answered', { nullable: true }),
            source: str('merged, batch or speed'),
            sources: { type: 'array', items: { type: 'string', enum: ['batch', 'speed'] } },
            exact: { type: 'boolean' },
            complete: { type: 'boolean', description: 'False when part of the range is not covered by any store' },
            missing_buckets: { type: 'integer' },
            partial_buckets: { type: 'integer' },
            missing_ranges: { type: 'array', description: 'Up to 20 [from, to] ranges no store covers', items: { type: 'array', items: { type: 'string' } } },
            missing_reasons: {
              type: 'array',
              description: 'Spans missing because a retention tier let them go (raw events RETENTION_LAKE, minute views RETENTION_VIEWS_MINUTE, hour views RETENTION_VIEWS_HOUR, day and month views RETENTION_VIEWS_DAY); absent when none',
              items: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, reason: { type: 'string', examples: ['minute views are kept 7 days (RETENTION_VIEWS_MINUTE)'] } } },
            },
            uniques: str('How visitors were combined across W: union (ids into the sketch), sum-upper-bound, batch, speed'),
            other: str("Set when a breakdown row is (other): the values the speed store kept no row of, past its cap per key and minute (SPEED_MAX_MEMBERS); that row has exact: false"),
            revenue: {
              type: 'object',
              description:
                'On answers with the revenue metric. Revenue is never summed across currencies: it sums the purchases in the site’s reporting currency (sites file `currency`, USD when unset) only. ' +
                'A breakdown by the `currency` dimension gives each currency its own revenue (then `currency` is null).',
              properties: {
                currency: str('ISO 4217 code the revenue figures are in; null for a breakdown by currency (each row in the currency it names)', { nullable: true }),
                other_currency_purchases: { type: ['integer', 'null'], description: 'Purchases of the range in other currencies, left out of revenue; null when the store cannot count them under these filters' },
              },
            },
          },
        },
        Row: {
          type: 'object',
          properties: {
            dimensions: { type: 'array', items: { type: 'string' } },
            metrics: { type: 'array', items: { type: ['number', 'null'] } },
            source: { type: ['string', 'null'], enum: ['batch', 'speed', 'batch+speed', null], description: 'batch+speed: a week or month holding W, both sides merged' },
            exact: { type: 'boolean' },
            status: { type: 'string', enum: ['ok', 'partial', 'missing'] },
            reason: str('Why a missing bucket is missing, when a retention tier let it go'),
          },
        },
        StatsResult: {
          type: 'object',
          properties: { query: { type: 'object' }, results: { type: 'array', items: { $ref: '#/components/schemas/Row' } }, meta: { $ref: '#/components/schemas/Meta' }, comparison: { type: 'object' } },
        },
        Query: {
          type: 'object',
          required: ['site_id', 'metrics', 'date_range'],
          additionalProperties: false,
          properties: {
            site_id: { type: 'string' },
            metrics: { type: 'array', items: { type: 'string', enum: [...METRICS, ...GOAL_METRICS] } },
            date_range: { oneOf: [{ type: 'string', examples: ['7d', '24h', 'today'] }, { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 }] },
            dimensions: { type: 'array', maxItems: 3, description: "One time dimension (a series), event:goal (a row per goal), or 1 to 3 other dimensions (a row per combination); event:props:<key> is a custom property the site lists (the sites file's properties)", items: { type: 'string', examples: ['time:hour', 'event:page', 'visit:country', 'event:goal', 'event:props:plan', ...DIMENSIONS] } },
            filters: { type: 'array', items: { type: 'array', examples: [['is', 'visit:country', ['DE', 'FR']], ['contains_not', 'page', ['/admin']], ['is', 'event:goal', ['Signup']]] } },
            segment: { type: 'string', description: 'A saved segment of the site (GET /v1/sites/{site}/segments)' },
            order_by: { type: 'array', items: { type: 'array' } },
            pagination: { type: 'object', properties: { limit: { type: 'integer' }, offset: { type: 'integer' } } },
            include: {
              type: 'object',
              properties: {
                comparisons: { type: 'object', properties: { mode: { type: 'string', enum: ['previous_period', 'year_over_year', 'custom'] }, date_range: { type: 'array', items: { type: 'string' }, description: 'custom only' } } },
                totals: { type: 'boolean', description: "A breakdown's metric over the whole range and filters, in meta.totals" },
              },
            },
            source: { type: 'string', enum: ['merged', 'batch', 'speed'] },
          },
        },
      },
    },
    security: [{ readKey: [] }],
    paths: {
      '/api/v2/query': {
        post: {
          summary: 'One query endpoint in the style of Plausible Stats API v2',
          description: 'No dimension: totals. `time:minute|hour|day` (or `time`): a series. Any other dimension: a top-k breakdown ranked by one metric.',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Query' } } } },
          parameters: [q('format', 'json, csv or arrow', { type: 'string', enum: ['json', 'csv', 'arrow'] })],
          responses: statsResponse,
        },
      },
      '/v1/sites/{site}/series': {
        get: {
          summary: 'Time series of metrics (alias of the query endpoint)',
          parameters: [siteParam, q('metrics', `Comma-separated: ${METRICS.join(', ')}`), q('grain', 'Bucket size (default: by range)', { type: 'string', enum: [...GRAINS] }), ...rangeParams],
          responses: statsResponse,
        },
      },
      '/v1/sites/{site}/totals': {
        get: { summary: 'Totals over the range; visitors never double counted across W', parameters: [siteParam, q('metrics', 'Comma-separated metrics'), ...rangeParams], responses: statsResponse },
      },
      '/v1/sites/{site}/breakdown/{dimension}': {
        get: {
          summary: 'Top-k of a dimension',
          parameters: [
            siteParam,
            { name: 'dimension', in: 'path', required: true, description: 'A dimension (event:props:<key> for a listed custom property), or up to 3 comma-separated (country,device)', schema: { type: 'string', examples: [...DIMENSIONS, 'country,device', 'event:props:plan'] } },
            q('metric', 'Ranking metric', { type: 'string', enum: [...BREAKDOWN_METRICS] }),
            q('limit', 'Rows (1-1000, default 10)', { type: 'integer' }),
            q('offset', 'Rows to skip', { type: 'integer' }),
            ...rangeParams,
          ],
          responses: statsResponse,
        },
      },
      '/v1/sites/{site}/realtime': { get: { summary: 'Active visitors now and page views per minute of the last 30 minutes (speed store)', parameters: [siteParam], responses: { '200': { description: 'Realtime figures' }, ...errors } } },
      '/v1/sites/{site}/funnel': {
        get: {
          summary: 'Visitors through ordered steps (within a session), over batch-covered days',
          parameters: [siteParam, q('steps', 'Comma-separated: page paths (/pricing) or event:name', { type: 'string' }, true), ...rangeParams.filter((p) => p.name !== 'compare' && p.name !== 'source' && p.name !== 'format')],
          responses: { '200': { description: 'Visitors per step with conversion rates' }, '501': errorResponse, ...errors },
        },
      },
      '/v1/sites/{site}/segments': { get: { summary: "The site's saved segments: names and filter clauses", parameters: [siteParam], responses: { '200': { description: 'Segments' }, ...errors } } },
      '/v1/sites/{site}/properties': { get: { summary: "The site's listed custom property keys (event:props:<key> dimensions and filters)", parameters: [siteParam], responses: { '200': { description: 'Property keys' }, ...errors } } },
      '/v1/sites/{site}/coverage': { get: { summary: 'Watermark W, batch version and what each store covers', parameters: [siteParam], responses: { '200': { description: 'Coverage' }, ...errors } } },
      '/v1/jobs': { get: { summary: 'Job ledger of the orchestration (with SERVING_ADMIN_KEY set; Bearer <admin key>)', parameters: [q('limit', 'Most recent jobs (1-500, default 50)', { type: 'integer' })], responses: { '200': { description: 'Jobs' } } } },
      '/v1/jobs/{id}': { get: { summary: 'One job of the ledger (admin key)', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'Job' }, '404': errorResponse } } },
      '/v1/export/{site}': {
        get: {
          summary: "A site's raw events of a range (Parquet, CSV or NDJSON) or its batch views as a zip of CSV files (read key)",
          description:
            'Exists when the server is wired with exports (twinlane serving start). Raw events: one row per event id (earliest received time), erased visitors left out, ordered by event time, ' +
            'in the importable event shape (`twinlane import events` takes the file back); times ISO-8601 UTC in CSV and NDJSON. ' +
            'Views: visitors.csv (day series of every metric) and one CSV per breakdown (pages, sources, utm_sources, utm_mediums, utm_campaigns, utm_terms, utm_contents, channels, entry_pages, exit_pages, countries, devices, browsers, operating_systems, custom_events), exact batch numbers, 10,000 rows each at most. ' +
            'The body is streamed as an attachment. Two exports run at once per server; a third is refused with 429.',
          parameters: [
            siteParam,
            q('from', 'Start: a day (YYYY-MM-DD, from its UTC midnight) or an ISO-8601 time with a zone', { type: 'string', examples: ['2026-01-01', '2026-01-01T00:00:00Z'] }, true),
            q('to', 'End: a day (inclusive: up to the next UTC midnight) or an ISO-8601 time with a zone (exclusive); after from, at most 366 days later', { type: 'string', examples: ['2026-01-31'] }, true),
            q('format', 'parquet (default), csv or ndjson for raw events; views for the zip of view CSVs', { type: 'string', enum: [...EXPORT_FORMATS], default: 'parquet' }),
          ],
          responses: {
            '200': {
              description: 'The export, as an attachment (Content-Disposition names <site>-<from day>.<parquet|csv|ndjson|zip>)',
              headers: { 'Content-Disposition': { description: 'attachment; filename="<site>-<YYYY-MM-DD>.<extension>"', schema: { type: 'string' } } },
              content: {
                'application/vnd.apache.parquet': { schema: { type: 'string', format: 'binary' } },
                'text/csv': { schema: { type: 'string' } },
                'application/x-ndjson': { schema: { type: 'string' } },
                'application/zip': { schema: { type: 'string', format: 'binary' } },
              },
            },
            '400': { ...errorResponse, description: 'Missing or malformed from/to, to not after from or more than 366 days later, unknown format' },
            '401': { ...errorResponse, description: 'No read key given' },
            '403': { ...errorResponse, description: 'The key cannot read this site' },
            '404': { ...errorResponse, description: 'Unknown site' },
            '429': { ...errorResponse, description: 'Two exports are already running on this server (or the rate limit was reached)' },
            '503': { ...errorResponse, description: 'The lake or a store did not answer; retry' },
          },
        },
      },
      '/dashboard/{site}': { get: { summary: 'The dashboard page of a site (key in the URL fragment: #key=...)', security: [], parameters: [siteParam], responses: { '200': { description: 'HTML' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Text exposition format' } } } },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'ok' } } } },
    },
  };
}
