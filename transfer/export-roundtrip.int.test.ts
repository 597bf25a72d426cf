/**
 * Acceptance (issue 21): export then import into a fresh data directory gives identical views
 * for the exported range (Parquet, and CSV for its text encoding of times and properties); an
 * erased visitor never leaves through an export and never comes back through an import.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErasureList } from '../core/erasure.list.ts';
import { silentLogger } from '../core/logger.ts';
import type { Dimension } from '../core/views.ts';
import { batchOptions, BatchReader, runBatch } from '../batch/index.ts';
import { runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { createServingRuntime, importHistory } from '../apps/index.ts';
import { buildServingApp } from '../serving/index.ts';
import { plainKeys } from '../core/sites.ts';
import { CsvSource, exportEvents, NdjsonSource, ParquetSource, transferOptions, type ExportFormat } from './index.ts';

const DAY = 86_400_000;
const FROM = Math.floor(Date.now() / DAY) * DAY - 4 * DAY;
const TO = FROM + 3 * DAY;
const DIMENSIONS: Dimension[] = ['page', 'referrer', 'country', 'device', 'utm_source', 'event_name'];

async function views(dataDir: string): Promise<unknown> {
  const reader = new BatchReader({ dataDir });
  const q = { site: 'shop', from: FROM, to: TO };
  const out: Record<string, unknown> = { series: await reader.series({ ...q, grain: 'hour', metrics: ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue', 'bounce_rate', 'visit_duration'] }) };
  for (const d of DIMENSIONS) out[d] = await reader.breakdown({ ...q, dimension: d, metric: 'visitors', limit: 100 });
  return out;
}

describe('twinlane export → twinlane import', () => {
  afterAll(runCleanups);

  it('gives identical views in a fresh DATA_DIR, and keeps an erased visitor out both ways', async () => {
    const dir = tempDir('roundtrip');
    const rows = Array.from({ length: 3000 }, (_, i) => ({
      site_id: i % 10 === 9 ? 'blog' : 'shop', type: i % 13 === 0 ? 'purchase' : i % 7 === 0 ? 'custom' : 'pageview', ...(i % 7 === 0 && i % 13 !== 0 ? { name: 'signup', properties: { plan: i % 2 ? 'pro' : 'free', note: 'a, "quoted"\nvalue' } } : {}),
      ...(i % 13 === 0 ? { revenue: 19.99, currency: 'EUR' } : {}), event_time: FROM + Math.floor((i * 3 * DAY) / 3000), visitor_id: `v${i % 300}`,
      url: `https://shop.example/p${i % 25}${i % 11 === 0 ? '?utm_source=mail' : ''}`, ...(i % 5 === 0 ? { referrer: 'https://search.example/q' } : {}), country: ['DE', 'FR', 'US'][i % 3], device_type: ['desktop', 'mobile'][i % 2],
    }));
    const file = join(dir, 'history.ndjson');
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
    const source = testConfig({ DATA_DIR: join(dir, 'a') });
    const imported = await importHistory({ config: source, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file), thenBatch: true });
    expect(imported.report.counts).toMatchObject({ read: 3000, imported: 3000, deadLettered: 0 });
    const before = await views(source.DATA_DIR);

    for (const format of ['parquet', 'csv'] as ExportFormat[]) {
      const out = join(dir, `export.${format}`);
      const done = await exportEvents({ dataDir: source.DATA_DIR, duckdb: transferOptions(source).exportDuckdb, erasures: new ErasureList(source.DATA_DIR) }, { site: 'shop', from: FROM, to: TO, format, out });
      expect(done.rows).toBe(2700);
      const target = testConfig({ DATA_DIR: join(dir, `b-${format}`) });
      const again = await importHistory({ config: target, logger: silentLogger() }, { kind: 'events', source: format === 'csv' ? new CsvSource(out) : new ParquetSource(out), thenBatch: true });
      expect(again.report.counts).toMatchObject({ read: 2700, imported: 2700, deadLettered: 0 });
      expect(await views(target.DATA_DIR), format).toEqual(before);
    }

    // Erase visitor v7 of shop in the source: the export leaves it out...
    const list = new ErasureList(source.DATA_DIR, 0);
    list.add('shop', 'v7');
    const out = join(dir, 'after-erasure.parquet');
    const done = await exportEvents({ dataDir: source.DATA_DIR, duckdb: transferOptions(source).exportDuckdb, erasures: list }, { site: 'shop', from: FROM, to: TO, format: 'parquet', out });
    const v7 = rows.filter((r) => r.site_id === 'shop' && r.visitor_id === 'v7').length;
    expect(v7).toBeGreaterThan(0);
    expect(done.rows).toBe(2700 - v7);
    // ...and importing the original file again into that DATA_DIR does not bring it back.
    const reimport = await importHistory({ config: source, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file), again: true });
    expect(reimport.report.counts).toMatchObject({ imported: 3000 - v7, erased: v7 });
    const run = await runBatch({ options: batchOptions(source) }, { from: new Date(FROM).toISOString().slice(0, 10), to: new Date(TO - DAY).toISOString().slice(0, 10) });
    expect(run.status).toBe('ok');
    const ids: string[] = [];
    for await (const batch of new BatchReader({ dataDir: source.DATA_DIR }).visitorIds('shop', FROM, TO)) ids.push(...batch);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).not.toContain('v7');

    // The same export from the serving API, with the site's read key (and refused without it).
    const runtime = createServingRuntime(source);
    const { app } = await buildServingApp(runtime.deps);
    try {
      const key = plainKeys(runtime.sites.get('shop')!, 'the test').readKey;
      const day = (t: number) => new Date(t).toISOString().slice(0, 10);
      const url = `/v1/export/shop?from=${day(FROM)}&to=${day(TO - DAY)}&format=csv`;
      const r = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
      expect(r.statusCode).toBe(200);
      expect(r.payload.trim().split('\n').length).toBe(1 + 2700 - v7);
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
      const zip = await app.inject({ method: 'GET', url: url.replace('format=csv', 'format=views'), headers: { authorization: `Bearer ${key}` } });
      expect(zip.statusCode).toBe(200);
      expect(zip.rawPayload.subarray(0, 2).toString()).toBe('PK');
    } finally {
      await app.close();
      await runtime.close();
    }
  });
});
