/**
 * Acceptance (issue 21): Umami's tables in the machine's PostgreSQL (a database of the test's
 * own), 30 days of generated history imported into a fresh DATA_DIR, the batch run: page views,
 * visitors, sessions and custom events per day, and the top pages, referrers, countries and
 * devices equal the truth computed from the generated rows (testing/truth.ts); importing again
 * changes nothing; a plain-SQL pg_dump file of the same database lands the very same lake rows
 * (so the same views: the batch run is done once, it costs about a second per day).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreakdownRow, Dimension } from '../core/views.ts';
import { listValue } from '@duckdb/node-api';
import { num, openSmallDuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import { BatchReader, lakeDays, lakeDay } from '../batch/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { onCleanup, runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { truthBreakdown, truthSeries } from '../testing/truth.ts';
import { importHistory } from '../apps/index.ts';
import { UmamiDumpSource, UmamiPostgresSource } from './index.ts';
import { createUmamiDatabase, generateUmamiHistory, loadUmamiHistory, type UmamiHistory } from './testing/umami.fixture.ts';

const DAY = 86_400_000;
const END = Math.floor(Date.now() / DAY) * DAY - DAY; // yesterday's UTC midnight: every day is over
const FROM = END - 30 * DAY;
const SITE = 'shop';
const DIMENSIONS: Dimension[] = ['page', 'referrer', 'country', 'device'];
const METRICS = ['pageviews', 'visitors', 'sessions', 'events'] as const;

/** The documented mapping (transfer/README.md), written out here independently of umami.mapper.ts. */
function expectedEvents(h: UmamiHistory): TwinlaneEvent[] {
  const sessions = new Map(h.sessions.map((s) => [s.session_id, s]));
  const device = (d: string | null) => (d === 'laptop' ? 'desktop' : (d ?? 'unknown'));
  return h.events
    .filter((e) => e.website_id === h.website)
    .map((e) => {
      const s = sessions.get(e.session_id)!;
      const utm = e.url_query ? new URLSearchParams(e.url_query).get('utm_source') : null;
      return {
        event_id: e.event_id, site_id: SITE, type: e.event_type === 2 ? 'custom' : 'pageview', name: e.event_type === 2 ? e.event_name! : 'pageview', event_time: e.created_at, received_time: e.created_at,
        visitor_id: e.session_id, session_id: e.visit_id, url: '', path: e.url_path, hostname: 'umami.example', referrer: null, referrer_host: e.referrer_domain, title: e.page_title,
        utm_source: utm, utm_medium: null, utm_campaign: null, utm_term: null, utm_content: null, country: s.country, device_type: device(s.device), browser: null, os: null, is_bot: false,
        ip_hash: null, time_adjusted: false, properties: {}, revenue_micros: null, currency: null, screen_width: null,
      } satisfies TwinlaneEvent;
    });
}

interface ViewsSnapshot {
  series: unknown;
  breakdowns: Record<string, unknown>;
}

async function readViews(dataDir: string): Promise<ViewsSnapshot> {
  const reader = new BatchReader({ dataDir });
  const series = await reader.series({ site: SITE, grain: 'day', from: FROM, to: END, metrics: [...METRICS] });
  const breakdowns: Record<string, unknown> = {};
  for (const d of DIMENSIONS) breakdowns[d] = await reader.breakdown({ site: SITE, from: FROM, to: END, dimension: d, metric: 'pageviews', limit: 50 });
  return { series, breakdowns };
}

function expectViewsEqualTruth(v: ViewsSnapshot, truth: TwinlaneEvent[]): void {
  const want = truthSeries(truth, { site: SITE, from: FROM, to: END, grain: 'day' });
  const got = new Map((v.series as { start: number; values: Record<string, number> }[]).map((p) => [p.start, p.values]));
  expect(want.size).toBe(30);
  for (const [start, values] of want) {
    const g = got.get(start);
    expect(g, `day ${new Date(start).toISOString()} is missing`).toBeDefined();
    for (const m of METRICS) expect(g![m] ?? 0, `${m} on ${new Date(start).toISOString()}`).toBe(values[m]);
  }
  for (const d of DIMENSIONS) {
    const rows = truthBreakdown(truth, { site: SITE, from: FROM, to: END, dimension: d, metric: 'pageviews' });
    const gotRows = new Map((v.breakdowns[d] as BreakdownRow[]).map((r) => [r.value, r.count]));
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) {
      expect(gotRows.get(row.value), `${d} ${row.value} is missing`).toBeDefined();
      expect(gotRows.get(row.value), `${d} ${row.value}`).toBe(row.count);
    }
  }
}

/** The lake's rows: count, distinct ids, raw addresses left in URLs, and a fingerprint of every row's content. */
async function lakeRows(dataDir: string): Promise<{ rows: number; ids: number; emails: number; fingerprint: string }> {
  const files = lakeDays(dataDir).flatMap((d) => lakeDay(dataDir, d).files);
  const db = await openSmallDuckDB(1);
  try {
    const r = await db.conn.runAndReadAll(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(*) FILTER (WHERE url LIKE '%@%' OR url LIKE '%\\%40%' ESCAPE '\\') AS emails,
              md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY event_id)) AS fp
       FROM read_parquet($files, union_by_name = true) t`,
      { files: listValue(files) },
    );
    const row = r.getRowObjectsJS()[0]!;
    return { rows: num(row.n), ids: num(row.ids), emails: num(row.emails), fingerprint: String(row.fp) };
  } finally {
    db.close();
  }
}

describe('twinlane import umami', () => {
  let history: UmamiHistory;
  let truth: TwinlaneEvent[];
  let url: string;

  beforeAll(async () => {
    const db = await createUmamiDatabase('tl_umami_acc');
    onCleanup(db.drop);
    url = db.url;
    history = generateUmamiHistory({ seed: 21, sessions: 500, days: 30, end: END });
    truth = expectedEvents(history);
    await loadUmamiHistory(url, history);
  });
  afterAll(runCleanups);

  it('imports 30 days from PostgreSQL: batch views equal the truth; importing again changes nothing; a pg_dump file gives the same lake', async () => {
    const dir = tempDir('umami-pg');
    const config = testConfig({ DATA_DIR: dir });
    const pgSource = () => new UmamiPostgresSource(url, history.website, SITE);
    const first = await importHistory({ config, logger: silentLogger() }, { kind: 'umami', source: pgSource(), site: SITE, thenBatch: true });
    expect(first.report.counts).toEqual({ read: truth.length, imported: truth.length, deadLettered: 0, erased: 0, afterCutoff: 0 });
    expect(first.batch?.status).toBe('ok');
    expectViewsEqualTruth(await readViews(dir), truth);
    const lake = await lakeRows(dir);
    expect(lake).toMatchObject({ rows: truth.length, ids: truth.length, emails: 0 }); // addresses in query strings were redacted

    // The same command again: the import is complete, nothing is read or written.
    const again = await importHistory({ config, logger: silentLogger() }, { kind: 'umami', source: pgSource(), site: SITE });
    expect(again.report.alreadyDone).toBe(true);
    // Run again from the first row (--again): its files are replaced by the same rows (identical
    // lake rows make identical views: the batch job is a function of the lake's rows).
    const rerun = await importHistory({ config, logger: silentLogger() }, { kind: 'umami', source: pgSource(), site: SITE, again: true });
    expect(rerun.report.counts.imported).toBe(truth.length);
    expect(await lakeRows(dir)).toEqual(lake);

    // A plain-SQL dump of the same database, into a DATA_DIR of its own: the same lake rows.
    const dump = join(dir, 'umami.sql');
    execFileSync('pg_dump', ['--no-owner', '--format=plain', '--file', dump, url]);
    const dumpConfig = testConfig({ DATA_DIR: join(dir, 'from-dump') });
    const fromDump = await importHistory({ config: dumpConfig, logger: silentLogger() }, { kind: 'umami', source: new UmamiDumpSource(dump, history.website, SITE), site: SITE });
    expect(fromDump.report.counts).toEqual({ read: truth.length, imported: truth.length, deadLettered: 0, erased: 0, afterCutoff: 0 });
    expect(await lakeRows(join(dir, 'from-dump'))).toEqual(lake);
  });
});
