/**
 * Acceptance (issue 21): a file with broken rows lands its good rows, and each bad row is a dead
 * letter naming its row number; an import SIGKILLed halfway (the CLI in a child process, killed
 * while its checkpoint is mid-file) and started again holds every event exactly once.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { num, openSmallDuckDB } from '../core/duckdb.ts';
import { silentLogger } from '../core/logger.ts';
import { lakeDay, lakeDays } from '../batch/index.ts';
import { DeadLetterStore } from '../dlq/index.ts';
import { runCleanups, tempDir, testConfig, waitUntil } from '../testing/helpers.ts';
import { importHistory } from '../apps/index.ts';
import { CsvSource, NdjsonSource } from './index.ts';
import { entryArgs } from '../testing/bundles.ts';

const DAY = 86_400_000;
const START = Math.floor(Date.now() / DAY) * DAY - 10 * DAY;

async function lakeCounts(dataDir: string): Promise<{ rows: number; ids: number }> {
  const files = lakeDays(dataDir).flatMap((d) => lakeDay(dataDir, d).files);
  if (files.length === 0) return { rows: 0, ids: 0 };
  const db = await openSmallDuckDB(1);
  try {
    const r = (await db.conn.runAndReadAll('SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM read_parquet($files, union_by_name = true)', { files: listValue(files) })).getRowObjectsJS()[0]!;
    return { rows: num(r.n), ids: num(r.ids) };
  } finally {
    db.close();
  }
}

function event(i: number): Record<string, unknown> {
  return { site_id: 'shop', type: 'pageview', event_time: START + i * 20_000, visitor_id: `v${i % 500}`, url: `https://shop.example/p${i % 40}` };
}

describe('twinlane import events', () => {
  afterAll(runCleanups);

  it('lands the good rows of a file with broken ones; each bad row is a dead letter naming its row number (NDJSON and CSV)', async () => {
    const dir = tempDir('events-bad');
    const lines = [
      JSON.stringify(event(1)),
      '{"site_id": "shop", "type": "pageview", broken json',
      JSON.stringify({ ...event(3), screen_width: 'wide' }),
      JSON.stringify({ ...event(4), site_id: 'no-such-site' }),
      JSON.stringify(event(5)),
      '',
      JSON.stringify({ ...event(7), visitor_id: 7 }),
      JSON.stringify({ ...event(8), type: 'custom', name: 'signup', properties: { email: 'jane@mail.example' } }),
    ];
    const file = join(dir, 'events.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const config = testConfig({ DATA_DIR: join(dir, 'data') });
    const r = await importHistory({ config, logger: silentLogger() }, { kind: 'events', source: new NdjsonSource(file) });
    expect(r.report.counts).toMatchObject({ read: 7, imported: 3, deadLettered: 4 });
    expect(r.report.badRows.map((b) => [b.row, b.code])).toEqual([[2, 'PAYLOAD_FORMAT'], [3, 'SCHEMA_VIOLATION'], [4, 'UNAUTHORIZED'], [7, 'SCHEMA_VIOLATION']]);
    expect(await lakeCounts(config.DATA_DIR)).toEqual({ rows: 3, ids: 3 });
    const store = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
    await store.open();
    try {
      const letters = await store.list({}, { payload: true });
      expect(letters.map((l) => Number(l.source?.offset)).sort()).toEqual([2, 3, 4, 7]);
      for (const l of letters) {
        expect(l.message).toContain(`import ${r.report.id} row ${l.source!.offset}:`);
        expect(l.source!.topic).toBe(`import~${r.report.id}`);
      }
      expect(letters.find((l) => l.source!.offset === '3')!.message).toContain('screen_width');
    } finally {
      store.close();
    }

    // The same in CSV: a quoted field with a comma and a line break, a wrong type, an unknown site.
    const csv = join(dir, 'events.csv');
    writeFileSync(csv, ['site_id,type,event_time,visitor_id,url,title', `shop,pageview,${START},v1,https://shop.example/a,"Hello, ""world""\nsecond line"`, `shop,pageview,yesterday,v2,https://shop.example/b,`, `elsewhere,pageview,${START},v3,https://shop.example/c,`, `shop,pageview,${START + 1000},v4,https://shop.example/d,`].join('\n'));
    const c = await importHistory({ config, logger: silentLogger() }, { kind: 'events', source: new CsvSource(csv) });
    expect(c.report.counts).toMatchObject({ read: 4, imported: 2, deadLettered: 2 });
    expect(c.report.badRows.map((b) => [b.row, b.code])).toEqual([[4, 'SCHEMA_VIOLATION'], [5, 'UNAUTHORIZED']]);
  });

  it('names a missing file, or a folder given as one, as a CLI error', async () => {
    const dir = tempDir('events-missing');
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((res) => {
        const child = spawn(process.execPath, [...entryArgs('bin/twinlane.ts'), 'import', ...args], { env: { ...process.env, DATA_DIR: join(dir, 'data') }, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (b: Buffer) => (err += b.toString()));
        child.on('exit', (code) => res({ code, err }));
      });
    expect(await run(['events', join(dir, 'nope.ndjson')])).toEqual({ code: 2, err: `twinlane: the events file ${join(dir, 'nope.ndjson')}: no such file\n` });
    expect(await run(['umami', '--site', 'shop', '--umami-website', '00000000-0000-0000-0000-000000000000', '--dump', dir])).toEqual({ code: 2, err: `twinlane: --dump ${dir}: not a file\n` });
  });

  it('resumes an import SIGKILLed halfway: every event exactly once', async () => {
    const dir = tempDir('events-kill');
    const file = join(dir, 'events.ndjson');
    const n = 40_000;
    writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify(event(i))).join('\n'));
    const dataDir = join(dir, 'data');
    const env = { ...process.env, DATA_DIR: dataDir, IMPORT_CHUNK_ROWS: '2000', LOG_LEVEL: 'warn' };
    const cli = () => spawn(process.execPath, [...entryArgs('bin/twinlane.ts'), 'import', 'events', file, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stateRows = () => checkpointRows(dataDir);
    // Killed at two moments: after the first checkpoints, and again further on.
    for (const atLeast of [4_000, 16_000]) {
      const child = cli();
      let out = '';
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      await waitUntil(`checkpoint past row ${atLeast}`, () => stateRows() >= atLeast || child.exitCode !== null, 90_000, 5);
      expect(child.exitCode, out).toBeNull(); // still running: the kill lands mid-import
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
      expect(stateRows()).toBeLessThan(n);
    }
    const last = cli();
    let json = '';
    last.stdout.on('data', (b: Buffer) => (json += b.toString()));
    const code = await new Promise((res) => last.once('exit', res));
    expect(code).toBe(0);
    const report = JSON.parse(json).report;
    expect(report.resumed).toBe(true);
    expect(report.counts).toMatchObject({ read: n, imported: n, deadLettered: 0 });
    expect(await lakeCounts(dataDir)).toEqual({ rows: n, ids: n });
  });
});

/** How far the import's checkpoint is (the child's state file; 0 before it exists). */
function checkpointRows(dataDir: string): number {
  const dir = join(dataDir, 'imports');
  if (!existsSync(dir)) return 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json') || f === 'live-start.json') continue;
    try {
      return (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { next: { rows: number } }).next.rows;
    } catch {
      return 0; // read while being replaced
    }
  }
  return 0;
}
