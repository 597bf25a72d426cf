/** The HTTP layer alone (inject, in-memory store); the Kafka-backed store is in registry.int.test.ts. */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { buildRegistryApp, REGISTRY_CONTENT_TYPE } from './registry.app.ts';
import { MemoryRegistryStore } from './registry.store.ts';

const S1 = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });
const S2 = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: 'int', default: 0 }] });
const BAD = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'c', type: 'int' }] });

let app = buildRegistryApp({ store: new MemoryRegistryStore(), metrics: new Metrics(), logger: silentLogger() });
afterEach(async () => {
  await app.close();
  app = buildRegistryApp({ store: new MemoryRegistryStore(), metrics: new Metrics(), logger: silentLogger() });
});

const post = (url: string, body: unknown, contentType = REGISTRY_CONTENT_TYPE) =>
  app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

describe('registry HTTP API (in-memory store)', () => {
  it('registers, answers with Confluent content type, and looks up', async () => {
    const res = await post('/subjects/s/versions', { schema: S1 });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain(REGISTRY_CONTENT_TYPE);
    expect(res.json()).toEqual({ id: 1 });
    expect((await post('/subjects/s/versions', { schema: S1, schemaType: 'AVRO' }, 'application/json')).json()).toEqual({ id: 1 });
    expect((await post('/subjects/s', { schema: S1 })).json()).toEqual({ subject: 's', version: 1, id: 1, schema: S1 });
    const raw = await app.inject({ url: '/subjects/s/versions/latest/schema' });
    expect(JSON.parse(raw.body)).toEqual(JSON.parse(S1));
    expect((await app.inject({ url: '/schemas/ids/1/schema' })).body).toBe(S1);
  });

  it.each([
    ['GET', '/subjects/nope/versions', undefined, 404, 40401],
    ['GET', '/subjects/nope/versions/1', undefined, 404, 40401],
    ['GET', '/subjects/s/versions/7', undefined, 404, 40402],
    ['GET', '/subjects/s/versions/zero', undefined, 422, 42202],
    ['GET', '/subjects/s/versions/0', undefined, 422, 42202],
    ['GET', '/schemas/ids/99', undefined, 404, 40403],
    ['GET', '/schemas/ids/abc', undefined, 404, 40403],
    ['POST', '/subjects/s', { schema: S2 }, 404, 40403],
    ['POST', '/subjects/s/versions', { schema: BAD }, 409, 409],
    ['POST', '/subjects/s/versions', { schema: '{"type":"record","name":"R"}' }, 422, 42201],
    ['POST', '/subjects/s/versions', { schema: 'not json' }, 422, 42201],
    ['POST', '/subjects/s/versions', {}, 422, 42201],
    ['POST', '/subjects/s/versions', { schema: S2, schemaType: 'PROTOBUF' }, 422, 42201],
    ['POST', '/subjects/s/versions', { schema: S2, references: [{ name: 'x', subject: 'y', version: 1 }] }, 422, 42201],
    ['POST', '/subjects/s/versions', '{"schema": ', 400, 400],
    ['PUT', '/config', { compatibility: 'SIDEWAYS' }, 422, 42203],
    ['GET', '/config/s', undefined, 404, 40408],
    ['GET', '/no/such/route', undefined, 404, 404],
  ])('%s %s → %i with error_code %i', async (method, url, body, status, code) => {
    await post('/subjects/s/versions', { schema: S1 });
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { 'content-type': REGISTRY_CONTENT_TYPE },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error_code: code, message: expect.any(String) });
  });

  it('checks compatibility against one version or all, verbosely when asked', async () => {
    await post('/subjects/s/versions', { schema: S1 });
    expect((await post('/compatibility/subjects/s/versions/latest', { schema: S2 })).json()).toEqual({ is_compatible: true });
    const verbose = (await post('/compatibility/subjects/s/versions/1?verbose=true', { schema: BAD })).json();
    expect(verbose.is_compatible).toBe(false);
    expect(verbose.messages[0]).toMatch(/default-less R\.c/);
    expect((await post('/compatibility/subjects/s/versions', { schema: BAD })).json()).toEqual({ is_compatible: false });
    expect((await post('/compatibility/subjects/none/versions/latest', { schema: S2 })).statusCode).toBe(404);
  });

  it('config: global and per subject, defaultToGlobal, delete', async () => {
    expect((await app.inject({ url: '/config' })).json()).toEqual({ compatibilityLevel: 'BACKWARD' });
    const put = await app.inject({ method: 'PUT', url: '/config/s', headers: { 'content-type': REGISTRY_CONTENT_TYPE }, payload: '{"compatibility":"full_transitive"}' });
    expect(put.json()).toEqual({ compatibility: 'FULL_TRANSITIVE' });
    expect((await app.inject({ url: '/config/s' })).json()).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await app.inject({ url: '/config/t?defaultToGlobal=true' })).json()).toEqual({ compatibilityLevel: 'BACKWARD' });
    expect((await app.inject({ method: 'DELETE', url: '/config/s' })).json()).toEqual({ compatibilityLevel: 'FULL_TRANSITIVE' });
    expect((await app.inject({ url: '/config/s' })).statusCode).toBe(404);
  });

  it('soft and permanent deletes over HTTP', async () => {
    await post('/subjects/s/versions', { schema: S1 });
    await post('/subjects/s/versions', { schema: S2 });
    expect((await app.inject({ method: 'DELETE', url: '/subjects/s/versions/latest' })).json()).toBe(2);
    expect((await app.inject({ url: '/subjects/s/versions' })).json()).toEqual([1]);
    expect((await app.inject({ url: '/subjects/s/versions?deleted=true' })).json()).toEqual([1, 2]);
    expect((await app.inject({ url: '/subjects/s/versions/2' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/subjects/s/versions/2?deleted=true' })).json()).toMatchObject({ version: 2, id: 2 });
    expect((await app.inject({ url: '/schemas/ids/2/versions?deleted=true' })).json()).toEqual([{ subject: 's', version: 2 }]);
    expect((await app.inject({ method: 'DELETE', url: '/subjects/s' })).json()).toEqual([1]);
    expect((await app.inject({ url: '/subjects' })).json()).toEqual([]);
    expect((await app.inject({ url: '/subjects?deleted=true' })).json()).toEqual(['s']);
    expect((await app.inject({ method: 'DELETE', url: '/subjects/s?permanent=true' })).json()).toEqual([1, 2]);
    expect((await app.inject({ url: '/schemas/ids/1' })).statusCode).toBe(404);
  });

  it('serves Prometheus metrics with request counts', async () => {
    await app.inject({ url: '/subjects' });
    const res = await app.inject({ url: '/metrics' });
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(/twinlane_registry_http_requests_total\{method="GET",route="\/subjects",status="200"\} 1/);
  });
});
