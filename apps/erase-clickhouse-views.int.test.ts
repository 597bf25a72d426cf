/**
 * Erasure with the batch views in ClickHouse (BATCH_VIEWS_STORE=clickhouse): the days holding the
 * visitor are recomputed into a new version, every older version holding it is dropped, and the
 * publisher leaves no row of the visitor in any ClickHouse view table; the other visitors'
 * numbers served from ClickHouse equal the truth without the visitor.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { ClickHouseConnection, clickhouseOptions, quoteIdentifier, quoteString } from '../clickhouse/index.ts';
import { batchOptions, runBatch, ViewsStore } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';
import { erase } from './erase.ts';
import { generateTraffic } from '../traffic/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { viewsFixture } from '../clickhouse/testing/views.fixture.ts';

const DAY = 86_400_000;

describe('erasure with the batch views in ClickHouse', () => {
  afterAll(runCleanups, 60_000);

  it('recomputes the days, drops the older versions and leaves no row of the visitor in ClickHouse', async () => {
    const dataDir = tempDir('erase-ch');
    const today = Math.floor(Date.now() / DAY) * DAY;
    const from = today - 3 * DAY;
    const events = [...generateTraffic({ seed: 91, sites: ['shop', 'blog'], from, to: today, events: 3_000, botFraction: 0 })];
    await writeLakeEvents(dataDir, events);
    const fx = viewsFixture(dataDir, { ERASURE_REFRESH: '10ms', WAREHOUSE_ENABLED: 'false' });
    try {
      const opts = batchOptions(fx.config);
      const day = (t: number) => new Date(t).toISOString().slice(0, 10);
      // Two versions: the first covers two days, the second adds the third (and reuses their folders).
      expect((await runBatch({ options: opts }, { from: day(from), to: day(from + DAY) })).status).toBe('ok');
      expect((await runBatch({ options: opts }, { dates: [day(from + 2 * DAY)] })).status).toBe('ok');
      await fx.publish();
      const store = new ViewsStore(dataDir);
      const before = store.versions();
      expect(before.length).toBe(2);

      const counts = new Map<string, number>();
      for (const e of events) if (e.site_id === 'shop') counts.set(e.visitor_id, (counts.get(e.visitor_id) ?? 0) + 1);
      const [visitor] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
      const ch = new ClickHouseConnection(clickhouseOptions(fx.config)!);
      const db = quoteIdentifier(fx.config.CLICKHOUSE_DATABASE);
      const rowsOf = async () => Number((await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${db}.view_events WHERE site_id = 'shop' AND visitor_id = ${quoteString(visitor)}`, 'counting'))[0]!.n);
      try {
        expect(await rowsOf()).toBeGreaterThan(0);
        const report = await erase({ config: fx.config, logger: silentLogger() }, { site: 'shop', visitor });
        expect(report.lake.rows).toBe(counts.get(visitor));
        expect(report.clickhouseViews).toBe('published');
        // Both older versions held the visitor's days: both are gone, the new one is the only one.
        expect(report.views.versionsDropped.sort()).toEqual(before);
        expect(store.versions()).toEqual([report.views.version]);
        expect(await rowsOf()).toBe(0);
        const versions = await ch.rows<{ version: string }>(`SELECT DISTINCT version FROM ${db}.view_versions`, 'listing versions');
        expect(versions.map((v) => v.version)).toEqual([report.views.version]);

        // Served from ClickHouse: every day of shop equals the truth without the visitor.
        const remaining = events.filter((e) => !(e.site_id === 'shop' && e.visitor_id === visitor));
        const rows = await fx.reader.series({ site: 'shop', from, to: today, grain: 'day', metrics: ['pageviews', 'visitors'] });
        const want = new Map<number, { pv: number; v: Set<string> }>();
        for (const e of remaining) {
          if (e.site_id !== 'shop' || e.is_bot) continue;
          const b = Math.floor(e.event_time / DAY) * DAY;
          const w = want.get(b) ?? { pv: 0, v: new Set<string>() };
          if (e.type === 'pageview') w.pv++;
          w.v.add(e.visitor_id);
          want.set(b, w);
        }
        expect(want.size).toBe(3);
        for (const [b, w] of want) {
          const got = rows.find((r) => r.start === b);
          expect(got, new Date(b).toISOString()).toBeDefined();
          expect(got!.values.pageviews).toBe(w.pv);
          expect(got!.values.visitors).toBe(w.v.size);
        }
      } finally {
        await ch.close();
      }
    } finally {
      await fx.close();
    }
  }, 120_000);
});
