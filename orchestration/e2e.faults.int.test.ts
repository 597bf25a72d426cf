/**
 * Faults under steady traffic: SIGKILL the speed consumer, then the lake archiver, then the
 * shared Kafka broker (via its PID file; restarted with stackUp), one at a time, each restarted
 * at once. After catch-up and a batch run, the served numbers still equal the truth: yesterday
 * exactly from batch, today from speed with exact counts and uniques within the sketch error.
 *
 * The broker is the shared local one, so its outage is kept to the restart time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { isAlive, sleep, stackPaths } from '../core/processes.ts';
import { stackUp } from '../stack/index.ts';
import { runCleanups } from '../testing/helpers.ts';
import { PipelineHarness, TRUTH_METRICS, expectBucketsEqualTruth, truthSeries, type HarnessService } from '../testing/pipeline.harness.ts';

const DAY = 86_400_000;

async function killBroker(): Promise<number> {
  const file = `${stackPaths().state}/kafka.pid`;
  if (!existsSync(file)) throw new Error(`no broker PID file at ${file}: the fault test needs the broker started by \`make stack-up\``);
  const pid = Number(readFileSync(file, 'utf8').trim());
  process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(20);
  return pid;
}

describe('faults under steady traffic', () => {
  let h: PipelineHarness;
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;

  beforeAll(async () => {
    h = await PipelineHarness.create();
    await h.startAll();
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
    await runCleanups();
  }, 60_000);

  /** A service that exited on its own (e.g. on losing the broker) is started again, as a process manager would. */
  async function restartExited(): Promise<HarnessService[]> {
    const exited = [...h.children.entries()].filter(([, c]) => c.exitCode !== null || c.signalCode !== null).map(([n]) => n);
    for (const n of exited) {
      h.children.delete(n);
      await h.start(n);
    }
    return exited;
  }

  it('SIGKILL of speed consumer, lake archiver and broker loses and doubles nothing', async () => {
    const traffic = h.send({ seed: 91, events: 9_000, rate: 400, from: today - DAY, to: Math.max(today + 60_000, now - 60_000) });

    await sleep(4_000);
    await h.kill('speed');
    await h.start('speed');

    await sleep(4_000);
    await h.kill('lake-archiver');
    await h.start('lake-archiver');

    await sleep(4_000);
    const t0 = Date.now();
    await killBroker();
    await stackUp(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), () => undefined);
    console.log(`broker outage: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const summary = await traffic;
    const restarted = await restartExited();
    if (restarted.length) console.log(`restarted after the broker outage: ${restarted.join(', ')}`);
    expect(summary.failed).toBe(0);
    expect(summary.accepted).toBe(9_000);

    await h.waitCaughtUp(undefined, 180_000);
    const run = await h.runBatch();
    expect(run.status).toBe('succeeded');

    const sent = h.truth();
    const metrics = [...TRUTH_METRICS];
    for (const site of h.sites().map((s) => s.id)) {
      const past = await h.series(site, today - DAY, today, 'hour', metrics);
      expect(past.every((r) => r.source === 'batch')).toBe(true);
      expectBucketsEqualTruth(past, truthSeries(sent, { site, grain: 'hour', from: today - DAY, to: today }), site, metrics);
      const until = Date.now();
      const current = await h.series(site, today, until, 'hour', metrics);
      expect(current.every((r) => r.source === 'speed')).toBe(true);
      expectBucketsEqualTruth(current, truthSeries(sent, { site, grain: 'hour', from: today, to: until }), site, metrics, ['visitors', 'sessions']);
    }
  }, 420_000);
});
