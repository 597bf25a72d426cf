/**
 * Before the tests that use the stack: starts the local stack when it is not running (idempotent),
 * and bundles the entry points the tests start as processes (testing/bundles.ts), once per run.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config.ts';
import { stackUp } from '../stack/index.ts';
import { BUNDLES_ENV, buildEntryBundles } from './bundles.ts';

export default async function setup(): Promise<(() => void) | void> {
  await stackUp(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), () => undefined);
  // Every project's set-up runs in this process before any test: the first one bundles. Inside the
  // repository (gitignored .tmp/), so the bundles find node_modules.
  if (process.env[BUNDLES_ENV]) return;
  const parent = fileURLToPath(new URL('../.tmp/', import.meta.url));
  mkdirSync(parent, { recursive: true });
  // Bundles of runs that were killed before their teardown: gone after a day.
  for (const d of readdirSync(parent)) if (d.startsWith('bundles-') && Date.now() - statSync(join(parent, d)).mtimeMs > 86_400_000) rmSync(join(parent, d), { recursive: true, force: true });
  const dir = mkdtempSync(join(parent, 'bundles-'));
  await buildEntryBundles(dir);
  process.env[BUNDLES_ENV] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
