/**
 * The collector and the serving API, started as processes on every interface (0.0.0.0) with the
 * default sites file, refuse: its keys are published. On loopback, or with a sites file of one's
 * own, they start (the rest of the suite runs them so).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, speedKeyPrefix, testConfig } from '../testing/helpers.ts';
import { entryArgs } from '../testing/bundles.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs an entry point until it exits (at most `timeoutMs`); its exit code and output (log lines go to standard output). */
function run(entry: string, env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, entryArgs(entry), { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('demo keys beyond loopback', () => {
  afterAll(runCleanups);
  it.each([
    ['collector', 'apps/collector.main.ts', { COLLECTOR_HOST: '0.0.0.0', COLLECTOR_PORT: '0' }, /the collector would listen on 0\.0\.0\.0 with the published demo keys/],
    ['serving API', 'apps/serving.main.ts', { SERVING_HOST: '0.0.0.0', SERVING_PORT: '0' }, /the serving API would listen on 0\.0\.0\.0 with the published demo keys/],
  ])('the %s refuses to start on 0.0.0.0 with the default sites file, saying why', async (_name, entry, env, message) => {
    // A speed store of the test's own: the machine's may hold another format (the check comes first).
    const r = await run(entry, { ...env, SITES_FILE: join(ROOT, 'config/sites.json'), ALLOW_DEMO_KEYS: 'false', SPEED_KEY_PREFIX: speedKeyPrefix(testConfig(), 'test-demo') });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(message);
  }, 40_000);
});
