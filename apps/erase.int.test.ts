/**
 * The right to erasure end to end (privacy issue, part 1), on the real collector, Kafka, speed
 * consumer, lake archiver, dead-letter archiver, serving API and ClickHouse warehouse:
 * - after a batch run, one visitor is erased: none of its events is left in a lake file, a view
 *   version, the warehouse or a dead letter; every other visitor's numbers equal the truth
 *   without that visitor; the ledger records the erasure without the id in clear;
 * - then a redelivered lake batch (the archiver's group reset to the topic's start) and a speed
 *   rebuild from W do not bring the visitor back, and the next batch run still equals that truth;
 * - a dry run counts and changes nothing; a whole site is erased with --site alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSmallDuckDB } from '../core/duckdb.ts';
import { ErasureList } from '../core/erasure.list.ts';
import { lakeFiles, ViewsStore } from '../batch/index.ts';
import { ClickHouseConnection, quoteIdentifier, warehouseOptions } from '../clickhouse/index.ts';
import { DeadLetterStore, letterMatches } from '../dlq/index.ts';
import { JobLedger } from '../orchestration/index.ts';
import { kafkaClient, onCleanup, runCleanups, uniqueName } from '../testing/helpers.ts';
import { PipelineHarness, TRUTH_METRICS, expectBucketsEqualTruth, truthSeries } from '../testing/pipeline.harness.ts';
import type { EraseReport } from './erase.ts';

const DAY = 86_400_000;

/** Rows of the visitor in the given files, and the distinct event ids of the site's other visitors (the views' events have none: `ids` false). */
async function lakeRows(files: string[], site: string, visitor: string, ids = true): Promise<{ visitor: number; others: Set<string> }> {
  const db = await openSmallDuckDB(1);
  try {
    const r = await db.conn.runAndReadAll(
      `SELECT CAST(visitor_id AS VARCHAR) = $v AS erased, ${ids ? 'list(DISTINCT CAST(event_id AS VARCHAR))' : '[]::VARCHAR[]'} AS ids, count(*) AS n
       FROM read_parquet($files, union_by_name = true, hive_partitioning = false) WHERE site_id = $s GROUP BY ALL`,
      { files: listValue(files), s: site, v: visitor },
    );
    let n = 0;
    const others = new Set<string>();
    for (const row of r.getRowObjectsJS()) {
      if (row.erased) n += Number(row.n);
      else for (const id of row.ids as string[]) others.add(id);
    }
    return { visitor: n, others };
  } finally {
    db.close();
  }
}

describe('erase a visitor everywhere, and keep it erased', () => {
  let h: PipelineHarness;
  let ch: ClickHouseConnection;
  const database = `test_erase_${uniqueName('db').slice(3).replace('-', '')}`;
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  const from = today - 2 * DAY;

  beforeAll(async () => {
    h = await PipelineHarness.create({ ERASURE_REFRESH: '300ms', WAREHOUSE_ENABLED: 'true', CLICKHOUSE_DATABASE: database });
    ch = new ClickHouseConnection(warehouseOptions(h.config)!.clickhouse);
    onCleanup(async () => {
      await ch.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`, 'dropping the test database').catch(() => undefined);
      await ch.close();
    });
    await h.startAll();
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
    await runCleanups();
  }, 60_000);

  it('erases one visitor from the lake, views, warehouse and dead letters; a redelivery and a speed rebuild do not bring it back', async () => {
    const history = await h.send({ seed: 181, events: 4_000, from, to: today, malformedFraction: 0.01 });
    expect(history.failed).toBe(0);
    const todayLoad = await h.send({ seed: 182, events: 800, from: today, to: Math.max(today + 60_000, now - 60_000) });
    expect(todayLoad.failed).toBe(0);

    // The victim: of the visitors with events today (in speed) and before (in batch), the one with the most; it also gets a dead letter of its own.
    const sent = h.truth();
    const counts = new Map<string, number>();
    const seenToday = new Set(sent.filter((e) => e.event_time >= today).map((e) => `${e.site_id}\u0000${e.visitor_id}`));
    for (const e of sent) if (e.event_time < today) counts.set(`${e.site_id}\u0000${e.visitor_id}`, (counts.get(`${e.site_id}\u0000${e.visitor_id}`) ?? 0) + 1);
    const candidates = [...counts].filter(([k]) => seenToday.has(k)).sort((a, b) => b[1] - a[1]);
    expect(candidates.length).toBeGreaterThan(0);
    const [key] = candidates[0]!;
    const [site, visitor] = key.split('\u0000') as [string, string];
    const victimEvents = sent.filter((e) => e.site_id === site && e.visitor_id === visitor);
    expect(victimEvents.length).toBeGreaterThan(3);
    const writeKey = h.sites().find((s) => s.id === site)!.writeKey;
    const bad = await fetch(`${h.collectorUrl}/v1/collect?site=${site}&key=${writeKey}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ id: crypto.randomUUID(), type: 'not-a-type', ts: now - 120_000, visitor, session: 's-erase', url: 'https://example.com/x' }]),
    });
    expect(bad.status).toBeLessThan(500);
    await h.waitCaughtUp();

    const first = await h.runBatch();
    expect(first.status).toBe('succeeded');
    const letters = new DeadLetterStore(join(h.dir, 'dlq'));
    onCleanup(async () => letters.close());
    const mine = (l: Parameters<typeof letterMatches>[0]) => letterMatches(l, { site, visitor });
    // The dead-letter archiver stores the victim's letter (and the others) before the erasure.
    let lettersBefore = 0;
    await (async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const all = await letters.list();
        lettersBefore = all.length;
        if (all.some(mine) && all.length >= history.rejected) return;
        if (Date.now() > deadline) throw new Error(`the victim's dead letter was not stored (${all.length} letters)`);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const lettersOfVictim = (await letters.list()).filter(mine).length;
    const lakeBefore = await lakeRows(lakeFiles(h.dir), site, visitor);
    expect(lakeBefore.visitor).toBeGreaterThanOrEqual(victimEvents.length);

    // A dry run counts and changes nothing.
    const dry = JSON.parse(await h.cli(['erase', '--site', site, '--visitor', visitor, '--dry-run', '--json'])) as EraseReport;
    expect(dry.lake.rows).toBe(lakeBefore.visitor);
    expect(dry.deadLetters.letters).toBe(lettersOfVictim);
    expect((await lakeRows(lakeFiles(h.dir), site, visitor)).visitor).toBe(lakeBefore.visitor);
    expect(new ErasureList(h.dir).list()).toHaveLength(0);

    const report = JSON.parse(await h.cli(['erase', '--site', site, '--visitor', visitor, '--json'])) as EraseReport;
    expect(report.lake.rows).toBe(lakeBefore.visitor);
    expect(report.deadLetters.letters).toBe(lettersOfVictim);
    expect(report.views.days.length).toBeGreaterThan(0);
    expect(report.warehouse).not.toBe('off');
    expect((report.warehouse as { rows: number }).rows).toBe(victimEvents.filter((e) => e.event_time < today).length);
    expect(new ErasureList(h.dir).list()).toMatchObject([{ site, state: 'done' }]);
    console.log(`erase: ${report.lake.rows} lake rows in ${report.lake.files} files, ${report.views.days.length} days recomputed, ${(report.warehouse as { rows: number }).rows} warehouse rows, ${report.deadLetters.letters} letters, in ${report.durationMs} ms`);

    const remaining = sent.filter((e) => !(e.site_id === site && e.visitor_id === visitor));
    const expectErased = async () => {
      // Lake: no row of the visitor; every other accepted event of the site still there.
      const lake = await lakeRows(lakeFiles(h.dir), site, visitor);
      expect(lake.visitor).toBe(0);
      const othersSent = new Set(remaining.filter((e) => e.site_id === site).map((e) => e.event_id));
      for (const id of othersSent) if (!lake.others.has(id)) throw new Error(`event ${id} of another visitor is missing from the lake`);
      // Views: no kept version's day events hold the visitor.
      const store = new ViewsStore(h.dir);
      const dirs = new Set(store.versions().flatMap((v) => Object.values(store.manifest(v).days).map((d) => d.dir)));
      expect(dirs.size).toBeGreaterThan(0);
      const inViews = await lakeRows([...dirs].map((d) => store.tablePath(d, 'events')), site, visitor, false);
      expect(inViews.visitor).toBe(0);
      // Warehouse: none of the visitor's events; every other event of the batch days.
      const [wh] = await ch.rows<{ v: string; o: string }>(
        `SELECT countIf(visitor_id = '${visitor}') AS v, countIf(visitor_id != '${visitor}') AS o FROM ${quoteIdentifier(database)}.events WHERE site_id = '${site}'`,
        'counting the warehouse',
      );
      expect(Number(wh!.v)).toBe(0);
      expect(Number(wh!.o)).toBe(remaining.filter((e) => e.site_id === site && e.event_time >= from && e.event_time < today).length);
      // Dead letters: none of the visitor's; every other letter stays.
      const after = await letters.list();
      expect(after.filter(mine)).toHaveLength(0);
      expect(after.length).toBe(lettersBefore - lettersOfVictim);
      // Served numbers of every site equal the truth without the visitor (batch days, exact).
      for (const s of h.sites().map((x) => x.id)) {
        const rows = await h.series(s, from, today, 'hour', [...TRUTH_METRICS]);
        expect(rows.every((r) => r.source === 'batch')).toBe(true);
        expectBucketsEqualTruth(rows, truthSeries(remaining, { site: s, grain: 'hour', from, to: today }), s, [...TRUTH_METRICS]);
      }
    };
    await expectErased();

    // The ledger has the run, with the keyed hash and never the id in clear.
    const ledger = new JobLedger(join(h.dir, 'ledger', 'runs.jsonl'));
    expect((await ledger.list({ job: 'erase' }))[0]).toMatchObject({ status: 'succeeded', details: { visitorHash: report.visitorHash } });
    expect(readFileSync(join(h.dir, 'ledger', 'runs.jsonl'), 'utf8')).not.toContain(visitor);
    expect(readFileSync(join(h.dir, 'erasures', 'list.json'), 'utf8')).not.toContain(visitor);

    // A redelivered lake batch: the archiver reads the whole topic again (the consumers stopped; the
    // collector, serving and the dead-letter archiver keep running).
    const consumers = ['speed', 'lake-archiver'] as const;
    await h.stop(consumers);
    const admin = kafkaClient(h.config).admin();
    await admin.connect();
    try {
      await admin.resetOffsets({ groupId: h.config.LAKE_GROUP, topic: h.config.EVENTS_TOPIC, earliest: true });
    } finally {
      await admin.disconnect();
    }
    // And a speed rebuild from W (consumers stopped): today's keys are read again from Kafka.
    await h.cli(['speed', 'rebuild']);
    await Promise.all(consumers.map((name) => h.start(name)));
    await h.waitCaughtUp();
    const again = await h.runBatch();
    expect(again.status).toBe('succeeded');
    await expectErased();
    for (const s of h.sites().map((x) => x.id)) {
      const until = Date.now();
      const rows = await h.series(s, today, until, 'hour', ['pageviews', 'events', 'purchases']);
      expect(rows.every((r) => r.source === 'speed')).toBe(true);
      expectBucketsEqualTruth(rows, truthSeries(remaining, { site: s, grain: 'hour', from: today, to: until }), s, ['pageviews', 'events', 'purchases']);
    }

    // --site alone erases a site: nothing of it is left in the lake or the views.
    const whole = JSON.parse(await h.cli(['erase', '--site', site, '--json'])) as EraseReport;
    expect(whole.wholeSite).toBe(true);
    // The redelivery wrote other visitors' events a second time (the batch dedupes them): at least each once.
    expect(whole.lake.rows).toBeGreaterThanOrEqual(remaining.filter((e) => e.site_id === site).length);
    const left = await lakeRows(lakeFiles(h.dir), site, visitor);
    expect(left.visitor + left.others.size).toBe(0);
    const otherSite = h.sites().map((x) => x.id).find((s) => s !== site)!;
    expectBucketsEqualTruth(await h.series(otherSite, from, today, 'hour', [...TRUTH_METRICS]), truthSeries(remaining, { site: otherSite, grain: 'hour', from, to: today }), otherSite, [...TRUTH_METRICS]);
  }, 300_000);
});
