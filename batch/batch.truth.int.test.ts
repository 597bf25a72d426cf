/**
 * Acceptance: generated events → Kafka (real registry) → lake archiver → batch run; every view
 * equals the truth computed in plain TypeScript (the test kit's testing/truth.ts) at minute, hour and day
 * grain, with exact uniques. Then: a re-run gives identical views, a late event makes its day
 * dirty, rollback makes the previous version current for the very next query.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { DIMENSIONS, METRICS, type Grain, type Metric } from '../core/views.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { generateTraffic, pagePath } from '../traffic/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { runBatch } from './batch.job.ts';
import { BatchReader } from './batch.reader.ts';
import { LakeArchiver } from './lake.archiver.ts';
import { dedupe, truthBreakdown, truthFunnel, truthMetrics, truthSeries, truthTotals } from '../testing/truth.ts';
import { produceEvents } from './testing/fixtures.ts';
import { dirtyDays } from './batch.job.ts';
import { ViewsStore } from './views.store.ts';

const D1 = Date.UTC(2026, 2, 14);
const DAY = 86_400_000;
const SITES = ['alpha', 'beta', 'gamma'];
const NOW = D1 + 3 * DAY;

function expectMetrics(actual: Partial<Record<Metric, number>>, expected: Record<Metric, number>, where: string): void {
  for (const m of METRICS) {
    if (m === 'bounce_rate' || m === 'visit_duration') expect(actual[m], `${where} ${m}`).toBeCloseTo(expected[m], 9);
    else expect(actual[m], `${where} ${m}`).toBe(expected[m]);
  }
}

describe('batch views against the ground truth', () => {
  const config = testConfig();
  const dataDir = tempDir('batch-truth');
  const options = { dataDir, versionsKeep: 3, duckdb: { memoryLimit: '1GB', threads: 2 } };
  let events: TwinlaneEvent[];
  let truth: TwinlaneEvent[];
  let reader: BatchReader;
  let archiver: LakeArchiver;
  let topic: string;
  let codec: EventCodec;
  const metrics = new Metrics('t_');

  beforeAll(async () => {
    topic = await createTopic(config, 'batch-truth', 3);
    const dlq = await createTopic(config, 'batch-truth-dlq', 1);
    const kafka = kafkaClient(config);
    codec = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic);
    events = [...generateTraffic({ seed: 42, sites: SITES, from: D1, to: D1 + 2 * DAY, events: 30_000, visitorsPerSite: 800 })];
    // 300 events sent twice (a client retry): the batch must count them once.
    const resent = events.filter((_, i) => i % 100 === 0);
    await produceEvents(kafka, codec, topic, [...events, ...resent]);
    truth = dedupe(events);
    const logger = silentLogger();
    archiver = new LakeArchiver(
      { kafka, codec, deadLetters: new DeadLetterWriter({ kafka, topic: dlq, logger, metrics }), logger, metrics },
      { topic, groupId: uniqueName('lake'), dataDir, rollRows: 10_000, rollAgeMs: 300, duckdb: { memoryLimit: '256MB', threads: 2 }, tickMs: 100, sessionTimeoutMs: 10_000 },
    );
    await archiver.start();
    const archived = metrics.registry.getSingleMetric('t_lake_events_total')!;
    await waitUntil('every event in the lake', async () => (await archived.get()).values[0]!.value >= events.length + resent.length, 90_000);
    const record = await runBatch({ options, now: () => NOW }, { from: '2026-03-14', to: '2026-03-15' });
    expect(record.status).toBe('ok');
    expect(record.days.map((d) => d.duplicates)).toEqual([resent.filter((e) => e.event_time < D1 + DAY).length, resent.filter((e) => e.event_time >= D1 + DAY).length]);
    expect(record.watermark).toBe(D1 + 2 * DAY);
    reader = new BatchReader({ dataDir });
  });

  afterAll(async () => {
    await archiver?.stop();
    await reader?.close();
    await runCleanups();
  });

  it('series equal the truth for every site, minute, hour and day, uniques included', async () => {
    for (const site of SITES)
      for (const grain of ['minute', 'hour', 'day'] as Grain[]) {
        const points = await reader.series({ site, grain, from: D1, to: D1 + 2 * DAY, metrics: [...METRICS] });
        const expected = truthSeries(truth, { site, grain, from: D1, to: D1 + 2 * DAY });
        expect(points.length).toBe(expected.size);
        for (const p of points) expectMetrics(p.values, expected.get(p.start)!, `${site} ${grain} ${new Date(p.start).toISOString()}`);
      }
  });

  it('totals across both days count visitors and sessions once; filtered and unaligned ranges too', async () => {
    for (const site of SITES) {
      const all = truth.filter((e) => e.site_id === site);
      expectMetrics(await reader.totals({ site, from: D1, to: D1 + 2 * DAY, metrics: [...METRICS] }), truthMetrics(all), `${site} total`);
      const from = D1 + 5 * 3_600_000 + 17 * 60_000;
      const to = D1 + DAY + 3 * 3_600_000;
      const filters = { device: 'mobile', country: 'DE' };
      expectMetrics(await reader.totals({ site, from, to, filters, metrics: [...METRICS] }), truthTotals(truth, { site, from, to, filters }), `${site} filtered`);
      const ids = new Set(all.filter((e) => !e.is_bot && e.event_time >= from && e.event_time < to).map((e) => e.visitor_id));
      const streamed: string[] = [];
      for await (const chunk of reader.visitorIds(site, from, to)) streamed.push(...chunk);
      // Distinct per day (an id may come once for each of its days: the union's sketch counts it once).
      expect(new Set(streamed)).toEqual(ids);
      expect(streamed.length).toBeLessThanOrEqual(2 * ids.size);
    }
  });

  it('breakdowns (top pages, referrers, countries, devices, browsers, OS, UTM sources, event names) equal the truth', async () => {
    const site = 'beta';
    for (const [from, to] of [
      [D1, D1 + DAY],
      [D1, D1 + 2 * DAY],
    ] as const)
      for (const dimension of DIMENSIONS)
        for (const metric of ['pageviews', 'visitors', 'events', 'revenue'] as const) {
          const expected = truthBreakdown(truth, { site, from, to, dimension, metric }).slice(0, 10);
          expect(await reader.breakdown({ site, from, to, dimension, metric, limit: 10 }), `${dimension} by ${metric} over ${(to - from) / DAY} days`).toEqual(expected);
        }
  });

  it('a funnel counts visitors who passed the steps in order within a session', async () => {
    const site = 'alpha';
    type Step = { kind: 'page' | 'event'; value: string };
    const expectedFunnel = (steps: Step[]): number[] => truthFunnel(truth, { site, from: D1, to: D1 + 2 * DAY, steps });
    const mixed: Step[] = [
      { kind: 'page', value: '/' },
      { kind: 'event', value: 'signup' },
    ];
    const result = await reader.funnel({ site, from: D1, to: D1 + 2 * DAY, steps: mixed });
    expect(result.map((r) => r.visitors)).toEqual(expectedFunnel(mixed));
    expect(expectedFunnel(mixed)[1]).toBeGreaterThan(0);
    // Regression: a funnel of pages only once failed binding an empty list of event names.
    const pagesOnly: Step[] = [
      { kind: 'page', value: '/' },
      { kind: 'page', value: pagePath(1) },
    ];
    const pages = await reader.funnel({ site, from: D1, to: D1 + 2 * DAY, steps: pagesOnly });
    expect(pages.map((r) => r.visitors)).toEqual(expectedFunnel(pagesOnly));
    // A step repeated (one event matches two steps): each step is matched after the one before.
    const repeated: Step[] = [{ kind: 'page', value: '/' }, { kind: 'page', value: pagePath(1) }, { kind: 'page', value: '/' }, { kind: 'page', value: '/' }];
    const again = await reader.funnel({ site, from: D1, to: D1 + 2 * DAY, steps: repeated });
    expect(again.map((r) => r.visitors)).toEqual(expectedFunnel(repeated));
    expect(expectedFunnel(repeated)[2]).toBeGreaterThan(0);
  });

  it('re-running a day gives identical views; a late event makes its day dirty; rollback is used by the next query', async () => {
    const site = 'gamma';
    const q = { site, grain: 'hour' as const, from: D1, to: D1 + 2 * DAY, metrics: [...METRICS] };
    const before = await reader.series(q);
    const rerun = await runBatch({ options, now: () => NOW }, { dates: ['2026-03-14'] });
    expect(rerun.status).toBe('ok');
    expect(await reader.series(q)).toEqual(before);
    expect(dirtyDays(dataDir, new ViewsStore(dataDir).current(), NOW)).toEqual([]);

    const late: TwinlaneEvent = { ...truth.find((e) => e.site_id === site && e.type === 'pageview' && !e.is_bot)!, event_id: '00000000-0000-4000-8000-000000000001', event_time: D1 + 3_600_000 + 1, visitor_id: 'late-visitor' };
    await produceEvents(kafkaClient(config), codec, topic, [late]);
    await waitUntil('the late event makes 2026-03-14 dirty', () => dirtyDays(dataDir, new ViewsStore(dataDir).current(), NOW).includes('2026-03-14'), 30_000);
    const dirty = await runBatch({ options, now: () => NOW }, { dirty: true });
    expect(dirty.days.map((d) => d.day)).toEqual(['2026-03-14']);
    const after = await reader.series(q);
    const hour1 = after.find((p) => p.start === D1 + 3_600_000)!;
    expect(hour1.values.pageviews).toBe(before.find((p) => p.start === D1 + 3_600_000)!.values.pageviews! + 1);
    expect(hour1.values.visitors).toBe(before.find((p) => p.start === D1 + 3_600_000)!.values.visitors! + 1);

    const pinned = await reader.snapshot();
    const store = new ViewsStore(dataDir);
    const rolledTo = store.rollback();
    expect(rolledTo.version).not.toBe(pinned!.version);
    expect(await reader.series(q)).toEqual(before); // the very next query reads the previous version
    expect(await pinned!.series(q)).toEqual(after); // a response pinned to the newer version is not mixed
  });
});
