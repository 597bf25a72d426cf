/**
 * The OpenAPI document against the routes the app really registers (every optional route on):
 * each API route is documented with its method and path parameters, each documented operation
 * exists, and the export route answers only with the statuses and content types it documents.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSites } from '../core/sites.ts';
import { buildServingApp, type ServingApp } from './app.ts';
import { EXPORT_FORMATS, type ExportPort } from './export.routes.ts';
import { MemoryViewReader } from './memory-view.reader.ts';

const ADMIN = 'adm_0123456789abcdef0123456789';
const READ = 'rk_shop_0123456789';
const sites = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_shop_0123456789', readKey: READ }, { id: 'blog', writeKey: 'wk_blog_0123456789', readKey: 'rk_blog_0123456789' }] });
const exported = join(tmpdir(), `twinlane-openapi-${process.pid}.bin`);
const exports: ExportPort = {
  events: async () => (writeFileSync(exported, 'x'), { path: exported, cleanup: () => {} }),
  views: async (_q, out) => void out.end('zip'),
};
/** Routes of the docs page, the document itself and the dashboard's static files: not API operations. */
const NOT_API = [/^\/$/, /^\/docs/, /^\/openapi\.json$/, /^\/dashboard\/assets\//, /^\*$/];

type Operation = { parameters?: { name: string; in: string; required?: boolean; schema?: { enum?: string[] } }[]; responses: Record<string, { content?: Record<string, unknown> }>; security?: unknown[] };
let s: ServingApp;
let doc: { paths: Record<string, Record<string, Operation>>; security: unknown[] };

/** `/v1/sites/:site/x` → `/v1/sites/{site}/x`. */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

/** The registered routes and their methods, read back from Fastify's route tree (each line: indentation, the path part, the methods). */
function registeredRoutes(app: ServingApp['app']): Map<string, string[]> {
  const routes = new Map<string, string[]>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const url = stack.join('').replace(/\/\/+/g, '/');
    routes.set(url, m[3]!.split(', ').filter((x) => x !== 'HEAD' && x !== 'OPTIONS'));
  }
  return routes;
}

beforeAll(async () => {
  const speed = new MemoryViewReader({ source: 'speed', events: [], coverage: {} });
  const jobs = { list: async () => [], get: async () => null };
  s = await buildServingApp({ batch: { current: async () => null }, speed, sites, jobs, exports, options: { adminKey: ADMIN } });
  await s.app.ready();
  doc = (await s.app.inject({ method: 'GET', url: '/openapi.json' })).json();
});
afterAll(async () => {
  await s?.app.close();
  rmSync(exported, { force: true });
});

describe('the OpenAPI document and the registered routes', () => {
  it('documents every API route with its method and path parameters, and nothing that is not registered', () => {
    const routes = registeredRoutes(s.app);
    expect(routes.get('/v1/export/:site')).toEqual(['GET']);
    const api = [...routes].filter(([url]) => !NOT_API.some((r) => r.test(url)));
    expect(api.length).toBeGreaterThan(10);
    for (const [url, methods] of api) {
      const entry = doc.paths[openApiPath(url)];
      expect(entry, `${url} is not in the OpenAPI document`).toBeDefined();
      for (const method of methods) {
        const op = entry![method.toLowerCase()];
        expect(op, `${method} ${url} is not documented`).toBeDefined();
        const pathParams = [...url.matchAll(/:(\w+)/g)].map((x) => x[1]).sort();
        expect((op!.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort(), `path parameters of ${url}`).toEqual(pathParams);
      }
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        expect(s.app.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${path} is documented but not registered`).toBe(true);
      }
    }
  });

  it('documents the export route: read key, required range, every format, and the answers it really gives', async () => {
    const op = doc.paths['/v1/export/{site}']!.get!;
    expect(op.security ?? doc.security).toEqual([{ readKey: [] }]);
    const param = (name: string) => op.parameters!.find((p) => p.name === name && p.in === 'query');
    expect(param('from')?.required).toBe(true);
    expect(param('to')?.required).toBe(true);
    expect(param('format')?.schema?.enum).toEqual([...EXPORT_FORMATS]);

    const documented = (status: number) => op.responses[String(status)];
    const get = (url: string, key: string | null = READ) => s.app.inject({ method: 'GET', url, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
    for (const format of EXPORT_FORMATS) {
      const r = await get(`/v1/export/shop?from=2026-01-01&to=2026-01-31&format=${format}`);
      expect(r.statusCode, format).toBe(200);
      const type = String(r.headers['content-type']).split(';')[0]!;
      expect(Object.keys(documented(200)!.content!), `content type of ${format}`).toContain(type);
    }
    const refusals: [string, string | null, number][] = [
      ['/v1/export/shop?from=2026-01-01&to=2026-01-31', null, 401],
      ['/v1/export/blog?from=2026-01-01&to=2026-01-31', READ, 403],
      ['/v1/export/nope?from=2026-01-01&to=2026-01-31', READ, 404],
      ['/v1/export/shop?to=2026-01-31', READ, 400],
      ['/v1/export/shop?from=2026-01-01&to=2028-01-01', READ, 400],
      ['/v1/export/shop?from=2026-01-01&to=2026-01-31&format=xlsx', READ, 400],
    ];
    for (const [url, key, status] of refusals) {
      const r = await get(url, key);
      expect(r.statusCode, url).toBe(status);
      expect(documented(status), `${status} of ${url} is not documented`).toBeDefined();
      expect(r.json().error.message.length).toBeGreaterThan(10);
    }
    expect(documented(429)).toBeDefined();
  });
});
