/**
 * A ClickHouse views database made by an earlier Twinlane (its `view_events` without the UTM tags
 * and channel of DATA_DIR format 4) gets the columns it lacks when the publisher checks its schema,
 * on the stack's server (18.16, which has no `ADD COLUMN IF NOT EXISTS`): rows loaded before read
 * as missing by the contract's labels, never as empty values, and a second check adds nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MISSING_LABEL } from '../core/views.ts';
import { onCleanup, runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { ClickHouseConnection } from './clickhouse.client.ts';
import { clickhouseOptions } from './options.ts';
import { qualifiedName, quoteIdentifier } from './sql.quote.ts';
import { viewsDatabase } from './testing/views.fixture.ts';
import { ViewsPublisher } from './views.publisher.ts';
import { VIEW_COLUMNS, viewTable } from './views.schema.ts';

afterAll(runCleanups);

const ADDED = ['utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'channel'] as const;

describe('views tables of an earlier Twinlane', () => {
  it('get the columns they lack, defaulting to the missing labels, once', async () => {
    const ch = new ClickHouseConnection(clickhouseOptions(testConfig())!);
    const database = viewsDatabase();
    onCleanup(async () => {
      await ch.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`, 'dropping the test database').catch(() => undefined);
      await ch.close();
    });
    const events = qualifiedName(database, viewTable('events'));
    const old = VIEW_COLUMNS.events.filter((c) => !(ADDED as readonly string[]).includes(c.name));
    await ch.command(`CREATE DATABASE ${quoteIdentifier(database)}`, 'creating the test database');
    await ch.command(`CREATE TABLE ${events} (dir String, ${old.map((c) => `${c.name} ${c.type}`).join(', ')}) ENGINE = MergeTree ORDER BY dir`, 'the table as format 3 made it');
    await ch.command(`INSERT INTO ${events} (dir, site_id, utm_source) VALUES ('days/2026-03-01/r1', 'shop', 'newsletter')`, 'a row of a folder loaded before');

    const publisher = new ViewsPublisher({ entry: ch, shards: [ch], database, duckdb: { memoryLimit: '256MB', threads: 1, tempDir: tempDir('views-columns') }, workDir: tempDir('views-columns-work') });
    const columns = async () => (await ch.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${database}' AND table = 'view_events'`, 'columns')).map((r) => r.name);
    await publisher.ensureShardSchema(0);
    expect(await columns()).toEqual(['dir', ...VIEW_COLUMNS.events.map((c) => c.name)].filter((n) => !(ADDED as readonly string[]).includes(n)).concat(ADDED));
    const [row] = await ch.rows<Record<string, string>>(`SELECT ${ADDED.join(', ')} FROM ${events}`, 'the old row');
    expect(row).toEqual(Object.fromEntries(ADDED.map((d) => [d, MISSING_LABEL[d]])));
    // Checked again (every sync does): nothing to add, nothing fails.
    await publisher.ensureShardSchema(0);
    expect((await columns()).length).toBe(VIEW_COLUMNS.events.length + 1);
  });
});
