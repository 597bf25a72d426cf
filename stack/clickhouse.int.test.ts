/**
 * The stack's ClickHouse in a temporary root (the shared one keeps running): started on free
 * loopback ports with its data under .local/, reused while it runs, restarted on the same URL,
 * left alone when CLICKHOUSE_URL names another server, and stopped by `stack down`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isAlive, stackPaths, stopPid } from '../core/processes.ts';
import { runCleanups, tempDir, testConfig } from '../testing/helpers.ts';
import { clickhouseAnswers, clickhouseBinary, clickhouseRunning, ensureClickHouse } from './clickhouse.ts';
import { stackDown, stackStatus } from './stack.ts';

describe.skipIf(!clickhouseBinary())('stack ClickHouse', () => {
  afterAll(runCleanups);

  it('starts its own server, reuses it, restarts it on the same URL and stops only it', async () => {
    const root = tempDir('clickhouse');
    const paths = stackPaths(root);
    const quiet = () => undefined;
    try {
      const first = await ensureClickHouse(paths, '', quiet);
      expect(first).toMatchObject({ reused: false, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
      expect(first!.pid).toBeGreaterThan(0);
      expect(await clickhouseAnswers(first!.url)).toBe(true);
      expect(existsSync(join(root, '.local/clickhouse/data'))).toBe(true);
      expect(readFileSync(join(root, '.local/clickhouse/config.xml'), 'utf8')).toContain('<listen_host>127.0.0.1</listen_host>');
      expect(readFileSync(`/proc/${first!.pid}/environ`, 'utf8')).toContain('MALLOC_CONF=dirty_decay_ms:-1');

      expect(await ensureClickHouse(paths, '', quiet)).toEqual({ url: first!.url, pid: first!.pid, reused: true });
      // Its own URL, as stack.env hands it back, is not "external".
      expect(await ensureClickHouse(paths, first!.url, quiet)).toMatchObject({ pid: first!.pid, reused: true });

      await stopPid(first!.pid!, 20_000);
      const again = await ensureClickHouse(paths, '', quiet);
      expect(again).toMatchObject({ url: first!.url, reused: false });
      expect(again!.pid).not.toBe(first!.pid);

      // CLICKHOUSE_URL of another server: used as it is, never started or stopped here.
      const elsewhere = `http://127.0.0.1:${await freePort()}`;
      const lines: string[] = [];
      expect(await ensureClickHouse(paths, elsewhere, (l) => lines.push(l))).toEqual({ url: elsewhere, reused: true, down: true });
      expect(lines.join('\n')).toMatch(/does not answer; the stack does not manage it/);
      expect(clickhouseRunning(paths)).toBe(again!.pid);

      const status = await stackStatus(testConfig({ CLICKHOUSE_URL: again!.url }), root);
      expect(status.find((l) => l.startsWith('clickhouse'))).toMatch(new RegExp(`clickhouse running  pid ${again!.pid}  ${again!.url}`));
      await stackDown(quiet, root);
      expect(isAlive(again!.pid!)).toBe(false);
      expect(clickhouseRunning(paths)).toBeUndefined();
    } finally {
      await stackDown(quiet, root);
    }
  }, 120_000);
});
