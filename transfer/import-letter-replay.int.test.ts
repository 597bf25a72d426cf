/**
 * Replay of an import's dead letters (`twinlane dlq replay`'s replayWith) lands them where imported
 * events land. Reproduced first with a real import of rows 12 days old: a row with a wrong type,
 * repaired by a transform, failed again on replay, since the live path reads the collector's JSON
 * (the import shape's fields are unknown there) and then holds it to the clock-skew window
 * (CLOCK_SKEW_POLICY=dead-letter refuses it; `adjust` would move it to the replay's time). Now it
 * passes the import's own checks (site, schema, PII: a transform that adds an address gets it
 * redacted), lands in the lake once with its original time and the id the import gives it, and
 * nothing reaches the live events topic; a row of an unknown site still fails; a second replay and
 * an `import --again` leave it there exactly once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { num, openSmallDuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import { lakeDay, lakeDays } from '../batch/index.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { importHistory, loadTransform, replayWith } from '../apps/index.ts';
import { ConfluentRegistryClient } from '../schemas/index.ts';
import { loadSites } from '../core/sites.ts';
import { Metrics } from '../core/metrics.ts';
import { importEventId, NdjsonSource, REPLAY_SUFFIX } from './index.ts';

const DAY = 86_400_000;
const T0 = Math.floor(Date.now() / DAY) * DAY - 12 * DAY + 3_600_000;

const rows: Record<string, unknown>[] = [
  { site_id: 'shop', type: 'pageview', event_time: T0, visitor_id: 'v1', url: 'https://shop.example/a' },
  { site_id: 'shop', type: 'pageview', event_time: T0 + 60_000, visitor_id: 'v2', url: 'https://shop.example/repaired', screen_width: 'wide' },
  { site_id: 'shop', type: 'pageview', event_time: T0 + 120_000, visitor_id: 'v3', url: 'https://shop.example/b' },
  { site_id: 'no-such-site', type: 'pageview', event_time: T0 + 180_000, visitor_id: 'v4', url: 'https://shop.example/c' },
  { site_id: 'shop', type: 'pageview', event_time: T0 + 240_000, visitor_id: 'v5', url: 'https://shop.example/d' },
];

/** Every lake row: event id, file, time, title, url. */
async function lakeRows(dataDir: string): Promise<{ event_id: string; file: string; event_time: number; title: string | null; url: string; time_adjusted: boolean }[]> {
  const files = lakeDays(dataDir).flatMap((d) => lakeDay(dataDir, d).files);
  const db = await openSmallDuckDB(1);
  try {
    const r = await db.conn.runAndReadAll(
      `SELECT CAST(event_id AS VARCHAR) AS event_id, filename AS file, CAST(epoch_ms(CAST(event_time AS TIMESTAMP)) AS DOUBLE) AS t, title, url, time_adjusted FROM read_parquet($files, union_by_name = true, filename = true)`,
      { files: listValue(files) },
    );
    return r.getRowObjectsJS().map((x) => ({ event_id: String(x.event_id), file: String(x.file), event_time: num(x.t), title: x.title === null ? null : String(x.title), url: String(x.url), time_adjusted: x.time_adjusted === true }));
  } finally {
    db.close();
  }
}

async function topicSize(config: ReturnType<typeof testConfig>, topic: string): Promise<number> {
  const admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

describe("replay of an import's dead letters", () => {
  afterAll(runCleanups, 60_000);

  it('skips only the clock-skew window and lands the repaired row in the lake exactly once', async () => {
    const dir = tempDir('import-replay');
    const file = join(dir, 'history.ndjson');
    writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const eventsTopic = await createTopic(testConfig(), 'import-replay', 1);
    const config = testConfig({ DATA_DIR: join(dir, 'data'), EVENTS_TOPIC: eventsTopic, CLOCK_SKEW_POLICY: 'dead-letter' });
    const imported = await importHistory({ config, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file) });
    const id = imported.report.id;
    expect(imported.report.badRows.map((b) => [b.row, b.code])).toEqual([[2, 'SCHEMA_VIOLATION'], [4, 'UNAUTHORIZED']]);

    // The repair: a number for screen_width, and an address in the title, which the import's checks must redact.
    const transformFile = join(dir, 'fix.ts');
    writeFileSync(transformFile, `export default ({ json }) => json && json.screen_width === 'wide' ? { ...json, screen_width: 1280, title: 'for jane@mail.example' } : undefined;\n`);
    const transform = await loadTransform(transformFile);
    const store = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
    const wiring = { kafka: kafkaClient(config), registry: new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), sites: loadSites(config.SITES_FILE), store, eventsTopic, logger: silentLogger(), metrics: new Metrics() };
    const replay = (dryRun = false) => replayWith(wiring, config, { filter: {}, transform, dryRun });
    try {
      const dry = await replay(true);
      expect(dry).toMatchObject({ dryRun: true, selected: 2, replayed: 1, failedAgain: 1 });
      expect((await lakeRows(config.DATA_DIR)).length).toBe(3);
      const first = await replay();
      expect(first).toMatchObject({ selected: 2, replayed: 1, failedAgain: 1, skipped: 0, landed: { events: 1, files: 1, days: [new Date(T0).toISOString().slice(0, 10)] } });
      const failed = first.verdicts.find((v) => v.verdict === 'fail')!;
      expect(failed.code).toBe('UNAUTHORIZED');
      expect(failed.message).toContain(`import ${id} row 4: site_id: unknown site "no-such-site"`);

      // The truth: rows 1, 2 (repaired), 3 and 5, each once, at their own times; nothing went live.
      const want = new Map([0, 1, 2, 4].map((i) => [importEventId(id, i + 1), rows[i]!]));
      const check = async () => {
        const lake = await lakeRows(config.DATA_DIR);
        for (const [eventId, row] of want) {
          const found = lake.filter((r) => r.event_id === eventId);
          expect(found.length, `${row.url} in the lake`).toBe(1);
          expect(found[0]!.event_time).toBe(row.event_time);
          expect(found[0]!.time_adjusted).toBe(false);
        }
        expect(lake.length).toBe(want.size);
        const repaired = lake.find((r) => r.event_id === importEventId(id, 2))!;
        expect(repaired.file).toContain(`/import~${id}${REPLAY_SUFFIX}~p0~`);
        expect(repaired.title).not.toContain('jane@mail.example');
        expect(repaired.title).toContain('for ');
      };
      await check();
      expect(await topicSize(config, eventsTopic)).toBe(0);

      // Again: the repaired letter is done, the other fails again; the lake is unchanged.
      const second = await replay();
      expect(second).toMatchObject({ selected: 2, replayed: 0, failedAgain: 1, skipped: 1 });
      expect(second.landed).toBeUndefined();
      // The import run again from its first row writes the same letters (already replayed) and leaves the replayed file alone.
      const again = await importHistory({ config, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file), again: true });
      expect(again.report.counts).toMatchObject({ imported: 3, deadLettered: 2 });
      await check();
      expect((await replay()).replayed).toBe(0);
      await check();
      expect(await topicSize(config, eventsTopic)).toBe(0);
    } finally {
      store.close();
    }
  }, 120_000);
});
