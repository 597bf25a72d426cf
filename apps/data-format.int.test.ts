/**
 * Data-format markers against the real Redis and a temporary DATA_DIR: a fresh store gets its
 * marker (the speed store's without TTL), unmarked data is adopted, and real processes started
 * on a format from the future refuse with a message saying what it is and what to do.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_DIR_FORMAT, SPEED_STORE_FORMAT } from '../core/data-format.ts';
import { DATA_FORMAT_FILE } from '../core/data-dir.marker.ts';
import { SpeedKeys } from '../speed/index.ts';
import { runCleanups, tempDir, testConfig, testRedis } from '../testing/helpers.ts';
import { guardDataFormats, prepareSpeedRebuild } from './data-format.guard.ts';
import { entryArgs } from '../testing/bundles.ts';

const ROOT = resolve(import.meta.dirname, '..');
const FUTURE = JSON.stringify({ format: 99, writtenBy: 'speed (twinlane 9.0.0)', at: '2030-01-01T00:00:00.000Z' });

/** Runs a real entry point or CLI command to its end; refusing to start must take seconds, not a timeout. */
async function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [...entryArgs(args[0]!), ...args.slice(1)], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(timer);
  return { code, output };
}

describe('data-format markers on the real stores', () => {
  afterAll(runCleanups);
  const config = testConfig();

  it('marks a fresh DATA_DIR and an empty speed store; the speed marker never expires', async () => {
    const { redis, prefix } = testRedis(config);
    const dataDir = tempDir('format-fresh');
    const keyPrefix = prefix + 'speed';
    const results = await guardDataFormats(config, { role: 'int-test', stores: ['data-dir', 'speed-store'], redis, dataDir, keyPrefix });
    expect(results.map((r) => r.action)).toEqual(['created', 'created']);
    expect(JSON.parse(readFileSync(join(dataDir, DATA_FORMAT_FILE), 'utf8'))).toMatchObject({ format: DATA_DIR_FORMAT, writtenBy: expect.stringMatching(/^int-test \(twinlane /) });
    const key = new SpeedKeys(keyPrefix).format;
    expect(JSON.parse((await redis.get(key))!)).toMatchObject({ format: SPEED_STORE_FORMAT });
    expect(await redis.pttl(key)).toBe(-1);
    // The next process finds its own format and writes nothing.
    const again = await guardDataFormats(config, { role: 'int-test', stores: ['data-dir', 'speed-store'], redis, dataDir, keyPrefix });
    expect(again.map((r) => r.action)).toEqual(['current', 'current']);
  });

  it('refuses speed data written before formats were recorded (format 1), and a full rebuild marks the store', async () => {
    const { redis, prefix } = testRedis(config);
    const keys = new SpeedKeys(prefix + 'speed');
    await redis.sadd(keys.sites, 'shop');
    await redis.pexpire(keys.sites, 60_000);
    // Format 1 spelled missing values (none); the store is rebuilt, not migrated.
    await expect(guardDataFormats(config, { role: 'int-test', stores: ['speed-store'], redis, keyPrefix: keys.prefix })).rejects.toMatchObject({ code: 'DATA_FORMAT_NO_MIGRATION', found: 1, expected: SPEED_STORE_FORMAT });
    // A rebuild of every site clears the marker with the rest, then writes it again.
    await redis.del(keys.format);
    const markRebuilt = await prepareSpeedRebuild(redis, keys.prefix, undefined);
    await markRebuilt();
    expect(JSON.parse((await redis.get(keys.format))!)).toMatchObject({ format: SPEED_STORE_FORMAT, writtenBy: expect.stringMatching(/^speed rebuild/) });
    expect(await redis.pttl(keys.format)).toBe(-1);
    await redis.set(keys.format, FUTURE);
    await expect(prepareSpeedRebuild(redis, keys.prefix, 'shop')).rejects.toMatchObject({ code: 'DATA_FORMAT_NEWER' });
  });

  it('the serving API refuses to start on a DATA_DIR from a newer Twinlane, saying so', async () => {
    const { prefix } = testRedis(config);
    const dataDir = tempDir('format-future');
    writeFileSync(join(dataDir, DATA_FORMAT_FILE), FUTURE);
    const { code, output } = await run(['bin/twinlane.ts', 'serving', 'start', '--port', '0'], { DATA_DIR: dataDir, SPEED_KEY_PREFIX: prefix + 'speed' });
    expect(code, output).toBe(2);
    expect(output).toContain(`DATA_DIR ${dataDir} holds data format 99 (written by speed (twinlane 9.0.0) at 2030-01-01T00:00:00.000Z), from a newer Twinlane`);
    expect(output).toContain(`reads DATA_DIR format ${DATA_DIR_FORMAT} only; upgrade Twinlane`);
  });

  it('the speed consumer refuses to start on a speed store from a newer Twinlane, before it touches Kafka', async () => {
    const { redis, prefix } = testRedis(config);
    const keys = new SpeedKeys(prefix + 'speed');
    await redis.set(keys.format, FUTURE);
    const dataDir = tempDir('format-speed');
    const { code, output } = await run(['apps/speed.main.ts'], { DATA_DIR: dataDir, SPEED_KEY_PREFIX: keys.prefix, KAFKA_BROKERS: '127.0.0.1:1' });
    expect(code, output).not.toBe(0);
    expect(output).toContain(`speed store ${keys.prefix} in Redis holds data format 99`);
    expect(output).toContain('upgrade Twinlane');
    // `data status` tells the same without writing anything, and fails so scripts notice.
    const status = await run(['bin/twinlane.ts', 'data', 'status'], { DATA_DIR: dataDir, SPEED_KEY_PREFIX: keys.prefix });
    expect(status.code, status.output).toBe(1);
    expect(status.output).toContain(`speed store ${keys.prefix} in Redis: format 99`);
    expect(await redis.get(keys.format)).toBe(FUTURE);
  });
});
