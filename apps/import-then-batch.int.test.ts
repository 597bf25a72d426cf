/**
 * `twinlane import … --then-batch` with the batch views in ClickHouse (BATCH_VIEWS_STORE=clickhouse)
 * and the warehouse on, against the stack's ClickHouse (a database of the test's own): the import's
 * days are computed and, as after the nightly batch, published there. Reproduced first with the
 * import leaving ClickHouse without any version: serving (which reads ClickHouse) showed nothing
 * of the imported history until the next nightly run. `twinlane batch run` (a child process) does
 * the same after its run; it used to publish the views only, leaving the warehouse behind.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { ClickHouseConnection, clickhouseOptions, qualifiedName } from '../clickhouse/index.ts';
import { viewsFixture } from '../clickhouse/testing/views.fixture.ts';
import { ViewsStore } from '../batch/index.ts';
import { NdjsonSource } from '../transfer/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { importHistory } from './import.ts';
import { entryArgs } from '../testing/bundles.ts';

const DAY = 86_400_000;
const FROM = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const DAYS = 2;
const ROWS = 1_200;

/** The history: page views and custom events of 'shop' over two past UTC days. */
function history(): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < ROWS; i++) {
    const custom = i % 7 === 0;
    rows.push({
      site_id: 'shop',
      type: custom ? 'custom' : 'pageview',
      ...(custom ? { name: 'signup' } : {}),
      event_time: FROM + Math.floor((i * DAYS * DAY) / ROWS) + 1_000,
      visitor_id: `v${(i * 37) % 211}`,
      url: `https://shop.example/p${i % 13}`,
    });
  }
  return rows;
}

/** Per UTC day: page views, distinct visitors, custom events. */
function truth(rows: Record<string, unknown>[]): Map<number, { pageviews: number; visitors: number; events: number }> {
  const days = new Map<number, { pageviews: number; visitors: Set<unknown>; events: number }>();
  for (const r of rows) {
    const day = Math.floor((r.event_time as number) / DAY) * DAY;
    const d = days.get(day) ?? { pageviews: 0, visitors: new Set(), events: 0 };
    if (r.type === 'pageview') d.pageviews++;
    else d.events++;
    d.visitors.add(r.visitor_id);
    days.set(day, d);
  }
  return new Map([...days].map(([day, d]) => [day, { pageviews: d.pageviews, visitors: d.visitors.size, events: d.events }]));
}

/** The history as an NDJSON file, a ClickHouse views fixture with the warehouse on, and a connection: closed after `fn`. */
async function withHistory(name: string, fn: (h: { rows: Record<string, unknown>[]; file: string; fx: ReturnType<typeof viewsFixture>; ch: ClickHouseConnection }) => Promise<void>): Promise<void> {
  const dir = tempDir(name);
  const rows = history();
  const file = join(dir, 'history.ndjson');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
  const fx = viewsFixture(join(dir, 'data'), { WAREHOUSE_ENABLED: 'true' });
  const ch = new ClickHouseConnection(clickhouseOptions(fx.config)!);
  try {
    await fn({ rows, file, fx, ch });
  } finally {
    await ch.close();
    await fx.close();
  }
}

describe('import --then-batch publishes like the nightly batch', () => {
  afterAll(runCleanups, 60_000);

  it('puts the imported days into the ClickHouse views serving reads and into the warehouse', async () => {
    await withHistory('import-publish', async ({ rows, file, fx, ch }) => {
      const out = await importHistory({ config: fx.config, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file), thenBatch: true });
      expect(out.report.counts).toMatchObject({ read: ROWS, imported: ROWS, deadLettered: 0 });
      expect(out.batch?.status).toBe('ok');
      const version = new ViewsStore(fx.config.DATA_DIR).current()!.version;
      expect(out.published?.views).toMatchObject({ status: 'ok', version, moved: true });
      expect(out.published?.warehouse).toMatchObject({ status: 'ok', version, loaded: out.report.days });

      // Served from ClickHouse: every day of the truth, its numbers.
      const want = truth(rows);
      expect(want.size).toBe(DAYS);
      const got = await fx.reader.series({ site: 'shop', from: FROM, to: FROM + DAYS * DAY, grain: 'day', metrics: ['pageviews', 'visitors', 'events'] });
      for (const [day, w] of want) {
        const point = got.find((p) => p.start === day);
        expect(point, new Date(day).toISOString()).toBeDefined();
        expect(point!.values).toMatchObject(w);
      }

      // The warehouse: one row per imported event, per day as many as the truth.
      const events = qualifiedName(fx.config.CLICKHOUSE_DATABASE, 'events');
      // Days from the epoch milliseconds: UTC whatever the server's time zone.
      const perDay = await ch.rows<{ day: string; n: string; ids: string }>(`SELECT intDiv(event_time_ms, 86400000) AS day, count() AS n, uniqExact(event_id) AS ids FROM ${events} WHERE site_id = 'shop' GROUP BY day`, 'per day');
      for (const [day, w] of want) {
        const row = perDay.find((r) => Number(r.day) === day / DAY);
        expect(row, new Date(day).toISOString()).toBeDefined();
        expect(Number(row!.n)).toBe(w.pageviews + w.events);
        expect(Number(row!.ids)).toBe(w.pageviews + w.events);
      }
      expect(perDay.length).toBe(want.size);
    });
  }, 120_000);

  it('`twinlane batch run` publishes the same way: ClickHouse views and the warehouse', async () => {
    await withHistory('batch-run-publish', async ({ rows, file, fx, ch }) => {
      const out = await importHistory({ config: fx.config, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file) });
      expect(out.batch).toBeUndefined();
      const env = { DATA_DIR: fx.config.DATA_DIR, CLICKHOUSE_DATABASE: fx.config.CLICKHOUSE_DATABASE, BATCH_VIEWS_STORE: 'clickhouse', CLICKHOUSE_POINTER_CACHE: '0', WAREHOUSE_ENABLED: 'true', LOG_LEVEL: 'warn' };
      const printed = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [...entryArgs('bin/twinlane.ts'), 'batch', 'run', '--dirty'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (b: Buffer) => (text += b.toString()));
        child.stderr.on('data', (b: Buffer) => (text += b.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`batch run exited with ${code}: ${text}`))));
      });
      const version = new ViewsStore(fx.config.DATA_DIR).current()!.version;
      expect(printed).toContain(`serving ${version} (pointer moved)`);
      expect(printed).toContain(`warehouse: ${DAYS} day(s) loaded`);
      const want = truth(rows);
      const got = await fx.reader.series({ site: 'shop', from: FROM, to: FROM + DAYS * DAY, grain: 'day', metrics: ['pageviews', 'visitors', 'events'] });
      for (const [day, w] of want) expect(got.find((p) => p.start === day)?.values, new Date(day).toISOString()).toMatchObject(w);
      const events = qualifiedName(fx.config.CLICKHOUSE_DATABASE, 'events');
      const [n] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${events} WHERE site_id = 'shop'`, 'count');
      expect(Number(n!.n)).toBe(ROWS);
    });
  }, 120_000);
});
