/**
 * `GET /v1/export/:site?from=&to=&format=parquet|csv|ndjson|views`: a site's raw events of a range
 * (one per event id, erased visitors left out) or its views as a zip of CSV files, authenticated
 * with the site's read key like every stats route. The export itself is a port the composition
 * root gives (transfer/, wired in apps/serving.runtime.ts); the route exists only when it is given.
 * The body is streamed from a temporary file (events) or as the zip is made (views).
 */
import { createReadStream } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './api.errors.ts';
import { authorizeSite, readKeyOf } from './stats.routes.ts';
import type { SiteDirectory } from './types.ts';

export type ExportFileFormat = 'parquet' | 'csv' | 'ndjson';
/** What `format=` takes (the OpenAPI document lists the same). */
export const EXPORT_FORMATS = ['parquet', 'csv', 'ndjson', 'views'] as const;

export interface ExportPort {
  /** Writes the events to a temporary file; `cleanup()` removes it once it was sent. */
  events(q: { site: string; from: number; to: number; format: ExportFileFormat }): Promise<{ path: string; cleanup: () => void }>;
  /** Writes the zip of view CSVs to `out`. */
  views(q: { site: string; from: number; to: number }, out: Writable): Promise<void>;
}

const CONTENT_TYPES: Record<(typeof EXPORT_FORMATS)[number], string> = { parquet: 'application/vnd.apache.parquet', csv: 'text/csv; charset=utf-8', ndjson: 'application/x-ndjson', views: 'application/zip' };
const EXTENSIONS: Record<(typeof EXPORT_FORMATS)[number], string> = { parquet: 'parquet', csv: 'csv', ndjson: 'ndjson', views: 'zip' };
/** One export is a scan of the range's lake days: a year at most per request. */
const MAX_RANGE_MS = 366 * 86_400_000;

function instant(text: unknown, name: string, end: boolean): number {
  if (typeof text !== 'string') throw new ApiError('BAD_REQUEST', `${name} is required: a day (YYYY-MM-DD) or an ISO-8601 time`);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return Date.parse(`${text}T00:00:00Z`) + (end ? 86_400_000 : 0);
  const t = Date.parse(text);
  if (Number.isNaN(t) || !/[zZ]|[+-]\d{2}:?\d{2}$/.test(text)) throw new ApiError('BAD_REQUEST', `${name}=${text.slice(0, 40)} is neither a day (YYYY-MM-DD) nor an ISO-8601 time with a zone`);
  return t;
}

/** Exports running at once per serving process: each scans lake days and may write a temporary file. */
const MAX_CONCURRENT_EXPORTS = 2;

export function registerExportRoutes(app: FastifyInstance, deps: { exports: ExportPort; sites: SiteDirectory }): void {
  let running = 0;
  app.get<{ Params: { site: string }; Querystring: Record<string, string> }>('/v1/export/:site', async (req, reply) => {
    const { site } = req.params;
    authorizeSite(deps.sites, site, readKeyOf(req));
    const format = (req.query.format ?? 'parquet') as (typeof EXPORT_FORMATS)[number];
    if (!EXPORT_FORMATS.includes(format)) throw new ApiError('BAD_REQUEST', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
    const from = instant(req.query.from, 'from', false);
    const to = instant(req.query.to, 'to', true);
    if (!(to > from) || to - from > MAX_RANGE_MS) throw new ApiError('BAD_REQUEST', 'to must be after from, at most 366 days later');
    if (running >= MAX_CONCURRENT_EXPORTS) throw new ApiError('RATE_LIMITED', `${MAX_CONCURRENT_EXPORTS} exports are running on this server; retry when one has finished`);
    running++;
    let released = false;
    const release = () => {
      if (!released) (released = true), running--;
    };
    reply.raw.once('close', release);
    reply.header('content-type', CONTENT_TYPES[format]);
    reply.header('content-disposition', `attachment; filename="${site}-${new Date(from).toISOString().slice(0, 10)}.${EXTENSIONS[format]}"`);
    if (format === 'views') {
      const body = new PassThrough();
      deps.exports.views({ site, from, to }, body).catch((err: unknown) => body.destroy(err as Error));
      return reply.send(body);
    }
    const file = await deps.exports.events({ site, from, to, format });
    const body = createReadStream(file.path);
    body.once('close', file.cleanup);
    return reply.send(body);
  });
}
