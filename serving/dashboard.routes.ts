/**
 * The dashboard: one static page per site, its script and styles, and chart.js served from
 * node_modules (no CDN). The page holds no data; it calls the API with the read key the user
 * gives in the URL fragment (#key=...), which browsers never send to the server or in Referer.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './api.errors.ts';
import type { ServingOptions } from './options.ts';
import type { SiteDirectory } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

function chartJsPath(): string {
  // The package exports only its modules; the UMD build sits next to its CommonJS entry.
  return join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
}

export function registerDashboardRoutes(app: FastifyInstance, deps: { sites: SiteDirectory; options: ServingOptions }): void {
  const html = readFileSync(join(here, 'dashboard/index.html'), 'utf8').replace('{{REFRESH_MS}}', String(deps.options.realtimeRefreshMs));
  const assets: Record<string, { body: string; type: string }> = {
    'dashboard.js': { body: readFileSync(join(here, 'dashboard/dashboard.js'), 'utf8'), type: 'text/javascript; charset=utf-8' },
    'dashboard.css': { body: readFileSync(join(here, 'dashboard/dashboard.css'), 'utf8'), type: 'text/css; charset=utf-8' },
    'chart.umd.min.js': { body: readFileSync(chartJsPath(), 'utf8'), type: 'text/javascript; charset=utf-8' },
  };

  app.get<{ Params: { site: string } }>('/dashboard/:site', async (req, reply) => {
    if (!deps.sites.get(req.params.site)) throw new ApiError('SITE_NOT_FOUND', `unknown site "${req.params.site.slice(0, 64)}"`);
    reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer').type('text/html; charset=utf-8');
    return html;
  });
  app.get<{ Params: { file: string } }>('/dashboard/assets/:file', async (req, reply) => {
    const asset = assets[req.params.file];
    if (!asset) throw new ApiError('NOT_FOUND', `no dashboard asset "${req.params.file.slice(0, 80)}"`);
    reply.header('cache-control', 'public, max-age=300').type(asset.type);
    return asset.body;
  });
}
