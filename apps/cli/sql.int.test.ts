/**
 * `twinlane sql` as people run it (the CLI in a child process) against the stack's ClickHouse,
 * in a database of its own: output formats, the row limit, the time limit, and read-only mode
 * (an INSERT and a SETTINGS clause are refused, and the table is unchanged).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseConnection, clickhouseOptions, qualifiedName, quoteIdentifier } from '../../clickhouse/index.ts';
import { testConfig } from '../../testing/helpers.ts';
import { entryArgs } from '../../testing/bundles.ts';

const database = `test_sql_${randomUUID().slice(0, 8)}`;
const config = testConfig();
const chOptions = clickhouseOptions(config);
if (!chOptions) throw new Error('the stack started no ClickHouse and CLICKHOUSE_URL is unset: is clickhouse-server installed (`make setup`)?');
const ch = new ClickHouseConnection(chOptions);
const table = qualifiedName(database, 'visits');

function sql(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...entryArgs('bin/twinlane.ts'), 'sql', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CLICKHOUSE_URL: config.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: database, LOG_LEVEL: 'warn' },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  await ch.command(`CREATE DATABASE ${quoteIdentifier(database)}`, 'create database');
  await ch.command(`CREATE TABLE ${table} (site_id String, n UInt32, note Nullable(String)) ENGINE = MergeTree ORDER BY (site_id, n)`, 'create table');
  await ch.insertRows(table, Array.from({ length: 50 }, (_, i) => ({ site_id: i % 2 ? 'shop' : 'blog', n: i, note: i === 3 ? 'a "quoted", note' : null })), 'rows');
});

afterAll(async () => {
  await ch.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`, 'cleanup').catch(() => undefined);
  await ch.close();
});

describe('twinlane sql', () => {
  it('prints a table, CSV or JSON, with unqualified names in CLICKHOUSE_DATABASE', () => {
    const table = sql('SELECT site_id, count() AS visits FROM visits GROUP BY site_id ORDER BY site_id');
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout.trim().split('\n')).toEqual(['site_id  visits', '-------  ------', 'blog         25', 'shop         25']);
    expect(table.stderr).toMatch(/^2 rows in/);
    const csv = sql('--format', 'csv', 'SELECT n, note FROM visits WHERE n IN (2, 3) ORDER BY n');
    expect(csv.stdout.trim().split('\n')).toEqual(['n,note', '2,', '3,"a ""quoted"", note"']);
    const json = sql('--format', 'json', 'SELECT n, note FROM visits WHERE n = 3;');
    expect(JSON.parse(json.stdout)).toEqual([{ n: 3, note: 'a "quoted", note' }]);
  });

  it('stops at --max-rows and says so', () => {
    const r = sql('--format', 'csv', '--max-rows', '10', 'SELECT n FROM visits ORDER BY n');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['n', ...Array.from({ length: 10 }, (_, i) => String(i))]);
    expect(r.stderr).toMatch(/10 rows .*stopped at --max-rows 10/);
  });

  it('stops a query at --timeout', () => {
    const t0 = Date.now();
    const r = sql('--timeout', '1s', 'SELECT count() FROM system.numbers');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ClickHouse stopped running the query: Timeout exceeded/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('refuses writes and settings changes (read-only), leaving the table as it was', async () => {
    const insert = sql("INSERT INTO visits (site_id, n) VALUES ('evil', 99)");
    expect(insert.status).toBe(2);
    expect(insert.stderr).toMatch(/refused in read-only mode: Cannot insert into table in readonly mode/);
    const drop = sql('DROP TABLE visits');
    expect(drop.status).toBe(2);
    const settings = sql('SELECT n FROM visits SETTINGS max_result_rows = 0');
    expect(settings.status).toBe(2);
    expect(settings.stderr).toMatch(/read-only mode/);
    const [{ n }] = await ch.rows<{ n: string }>(`SELECT count() AS n FROM ${table}`, 'count');
    expect(Number(n)).toBe(50);
  });

  it('says what to do when no warehouse was loaded yet', () => {
    const r = spawnSync(process.execPath, [...entryArgs('bin/twinlane.ts'), 'sql', 'SELECT 1 FROM events'], {
      encoding: 'utf8',
      env: { ...process.env, CLICKHOUSE_URL: config.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: `none_${randomUUID().slice(0, 8)}` },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/has no database none_\w+ yet: the warehouse step creates it/);
  });
});
