/**
 * The operations kit (ops/): the alert rules and the scrape configuration pass `promtool check`,
 * the rules' own unit tests pass (`promtool test rules`: each alert fires on its series), and every
 * twinlane_* metric the rules and the Grafana dashboard name is exported by a running service's
 * /metrics (collector, speed, lake and dead-letter archivers, serving and scheduler started as
 * processes; the stack's registry), so no alert or panel watches a name nothing exports.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/processes.ts';
import { runCleanups, waitUntil } from '../testing/helpers.ts';
import { PipelineHarness } from '../testing/pipeline.harness.ts';
import { entryArgs } from '../testing/bundles.ts';

const run = promisify(execFile);
const OPS = resolve(import.meta.dirname);
const PROMTOOL = '/usr/bin/promtool';

/** Metric names a PromQL text or dashboard names (a histogram's series by its base name). */
function namesIn(text: string): Set<string> {
  return new Set([...text.matchAll(/\btwinlane_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
}

/** Metric names a /metrics answer declares (`# TYPE name kind`), samples or not. */
function exported(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}

describe('operations kit', () => {
  let h: PipelineHarness;
  let scheduler: ChildProcess | undefined;
  let schedulerPort = 0;

  beforeAll(async () => {
    h = await PipelineHarness.create();
    await h.startAll();
    schedulerPort = await freePort();
    scheduler = spawn(process.execPath, entryArgs('apps/scheduler.main.ts'), { cwd: join(OPS, '..'), env: { ...process.env, ...h.env, SCHEDULER_METRICS_PORT: String(schedulerPort) }, stdio: 'ignore' });
    await waitUntil('the scheduler to serve /metrics', async () => (await fetch(`http://127.0.0.1:${schedulerPort}/metrics`).catch(() => null))?.ok === true, 60_000, 200);
  }, 180_000);
  afterAll(async () => {
    scheduler?.kill('SIGTERM');
    await h?.stop();
    await runCleanups();
  });

  it('has alert rules and a scrape configuration promtool accepts, and rules that fire on their series', async () => {
    const rules = await run(PROMTOOL, ['check', 'rules', join(OPS, 'prometheus/alerts.yml')]);
    expect(rules.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const config = await run(PROMTOOL, ['check', 'config', join(OPS, 'prometheus/prometheus.yml')]);
    expect(config.stdout).toContain('SUCCESS');
    const tests = await run(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], { cwd: join(OPS, 'prometheus') });
    expect(tests.stdout).toContain('SUCCESS');
  });

  it('names only metrics that running services export', async () => {
    const urls = [...Object.values(h.metricsUrls), `http://127.0.0.1:${schedulerPort}/metrics`, new URL('/metrics', h.config.SCHEMA_REGISTRY_URL).toString()];
    const all = new Set<string>();
    for (const url of urls) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      for (const n of exported(await res.text())) all.add(n);
    }
    const named = new Map<string, Set<string>>([
      ['ops/prometheus/alerts.yml', namesIn(readFileSync(join(OPS, 'prometheus/alerts.yml'), 'utf8'))],
      ['ops/grafana/twinlane.json', namesIn(JSON.parse(readFileSync(join(OPS, 'grafana/twinlane.json'), 'utf8')).panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr)).join('\n'))],
    ]);
    for (const [file, names] of named) {
      expect(names.size, file).toBeGreaterThan(8);
      for (const name of names) expect(all.has(name), `${file} names ${name}, which no service exports`).toBe(true);
    }
  });
});
