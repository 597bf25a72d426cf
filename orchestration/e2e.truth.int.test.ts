/**
 * End-to-end truth: seeded traffic with a ground-truth file goes through the real collector,
 * Kafka, speed consumer, lake archiver and serving API. Before any batch run, today's served
 * buckets match the truth (counts exactly, uniques within the sketch error); after a batch
 * run every hour of the covered days equals the truth exactly; late events for a covered day
 * and repaired dead letters are recomputed exactly by the next run; the ledger holds the runs
 * and a zero count drift; compaction and lake retention (run by `jobs run`) change no number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCleanups, waitUntil } from '../testing/helpers.ts';
import { REPAIRABLE_FIELDS, repair } from './testing/repair.transform.ts';
import { flattenRuns } from './job.runner.ts';
import { JobLedger } from './jobs.ledger.ts';
import { HLL_TOLERANCE, PipelineHarness, TRUTH_METRICS, expectBucketsEqualTruth, truthSeries } from '../testing/pipeline.harness.ts';
import { truthBreakdown } from '../testing/truth.ts';
import type { DriftReport } from './types.ts';

const DAY = 86_400_000;

describe('end to end: served numbers equal the ground truth', () => {
  let h: PipelineHarness;
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  const historyFrom = today - 2 * DAY;

  beforeAll(async () => {
    h = await PipelineHarness.create();
    await h.startAll();
  }, 180_000);

  afterAll(async () => {
    await h?.stop();
    await runCleanups();
  }, 60_000);

  it('speed before the first batch, batch exactly after it, late events after the next', async () => {
    const history = await h.send({ seed: 81, events: 6_000, from: historyFrom, to: today, malformedFraction: 0.01 });
    expect(history.failed).toBe(0);
    expect(history.unexpected).toBe(0);
    expect(history.rejected).toBeGreaterThan(0);
    const todaySummary = await h.send({ seed: 82, events: 1_500, from: today, to: Math.max(today + 60_000, now - 60_000) });
    expect(todaySummary.failed).toBe(0);
    await h.waitCaughtUp();

    // Before any batch run W is unset and speed answers everything it still holds: today.
    const sites = h.sites().map((s) => s.id);
    const sent = h.truth();
    const metrics = [...TRUTH_METRICS];
    for (const site of sites) {
      const until = Date.now();
      const rows = await h.series(site, today, until, 'hour', metrics);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.source === 'speed')).toBe(true);
      expectBucketsEqualTruth(rows, truthSeries(sent, { site, grain: 'hour', from: today, to: until }), site, metrics, ['visitors', 'sessions']);
    }

    // First batch: covers the two past days; drift compares them; speed keys before W retire.
    const first = await h.runBatch();
    expect(first.status).toBe('succeeded');
    if (first.status !== 'succeeded') return;
    expect(first.run.details.watermark).toBe(today);
    expect(flattenRuns(first).map((f) => `${f.job}:${f.status}`)).toEqual(['batch:succeeded', 'drift:succeeded', 'speed-retire:succeeded']);
    const drift = (await new JobLedger(`${h.dir}/ledger/runs.jsonl`).list({ job: 'drift' }))[0]!.details.drift as DriftReport;
    const pv = drift.metrics.find((m) => m.metric === 'pageviews')!;
    expect(pv.buckets).toBeGreaterThan(0);
    expect(pv.maxRelativeError).toBe(0); // speed counts are exact
    expect(drift.metrics.find((m) => m.metric === 'visitors')!.meanRelativeError).toBeLessThan(HLL_TOLERANCE);
    expect(drift.metrics.find((m) => m.metric === 'revenue')!.maxRelativeError).toBeLessThan(1e-9);

    for (const site of sites) {
      const rows = await h.series(site, historyFrom, today, 'hour', metrics);
      expect(rows).toHaveLength(48);
      expect(rows.every((r) => r.source === 'batch')).toBe(true);
      expectBucketsEqualTruth(rows, truthSeries(sent, { site, grain: 'hour', from: historyFrom, to: today }), site, metrics);
    }

    // A listed custom property (the demo shop lists `plan`) across W: batch days and speed's today (the
    // speed consumer kept its values, reading the sites file), each value's custom events as the truth's.
    const until = Date.now();
    const byPlan = await h.breakdown('shop', historyFrom, until, ['event:props:plan'], 'events');
    const wantPlan = truthBreakdown(sent, { site: 'shop', from: historyFrom, to: until, dimension: 'prop:plan', metric: 'events' });
    expect(wantPlan.map((r) => r.value).sort()).toEqual(['free', 'pro']);
    for (const w of wantPlan) expect(byPlan.find((r) => r.values[0] === w.value)?.count, `shop plan ${w.value}`).toBe(w.count);
    expect(byPlan).toHaveLength(wantPlan.length);

    // Late events for yesterday: the lake marks the day dirty; the next run recomputes it exactly.
    const late = await h.send({ seed: 83, events: 400, from: today - DAY, to: today });
    expect(late.failed).toBe(0);

    // Repaired dead letters: the repairable ones go through validation again and count from then on.
    const repaired = h.repairableRejections(repair, REPAIRABLE_FIELDS);
    expect(repaired.length).toBeGreaterThan(0);
    await waitUntil('the dlq archiver to store the rejected events', async () => (await h.cli(['dlq', 'list', '--json', '--limit', '1000'])).trim().split('\n').filter(Boolean).length >= history.rejected, 60_000, 500);
    const replay = JSON.parse(await h.cli(['dlq', 'replay', '--transform', 'orchestration/testing/repair.transform.ts', '--json'])) as { replayed: number };
    expect(replay.replayed).toBe(repaired.length);

    await h.waitCaughtUp([h.config.LAKE_GROUP]);
    const second = await h.runBatch();
    expect(second.status).toBe('succeeded');
    expect(second.status === 'succeeded' && second.run.days).toContain(new Date(today - DAY).toISOString().slice(0, 10));
    const all = [...h.truth(), ...repaired];
    for (const site of sites) {
      expectBucketsEqualTruth(await h.series(site, today - DAY, today, 'hour', metrics), truthSeries(all, { site, grain: 'hour', from: today - DAY, to: today }), site, metrics);
      expectBucketsEqualTruth(await h.series(site, historyFrom, today, 'day', metrics), truthSeries(all, { site, grain: 'day', from: historyFrom, to: today }), site, metrics);
    }

    // Compaction, then the batch run it makes necessary (compacted days are dirty), changes no number.
    const ledger = new JobLedger(`${h.dir}/ledger/runs.jsonl`);
    await h.cli(['jobs', 'run', 'compaction']);
    const compaction = (await ledger.list({ job: 'compaction' }))[0]!;
    expect(compaction.status).toBe('succeeded');
    expect(compaction.details.filesBefore as number).toBeGreaterThan(compaction.details.filesAfter as number);
    await h.cli(['jobs', 'run', 'batch']);
    expect((await ledger.list({ job: 'batch' }))[0]).toMatchObject({ status: 'succeeded', trigger: 'manual' });
    // Retention of one day removes the older lake day, and the views' raw events of it (they follow
    // RETENTION_LAKE); the hour views keep answering it (revenue, cut from the raw events, is left out).
    await h.cli(['jobs', 'run', 'retention'], { RETENTION_LAKE: '1d' });
    const retention = (await ledger.list({ job: 'retention' }))[0]!;
    expect(retention).toMatchObject({ status: 'succeeded', details: { removed: { 'batch-views': expect.any(Number), lake: 1, 'batch-versions': expect.any(Number), dlq: 0 } } });
    const fromViews = metrics.filter((m) => m !== 'revenue');
    for (const site of sites) expectBucketsEqualTruth(await h.series(site, historyFrom, today, 'hour', fromViews), truthSeries(all, { site, grain: 'hour', from: historyFrom, to: today }), site, fromViews);
  }, 300_000);
});
