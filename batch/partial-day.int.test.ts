/**
 * A UTC day computed up to a site's local midnight (issue 14: the scheduler runs a site's batch
 * once its local day has closed, contract 9): `--dirty` with `until` computes the day holding
 * `until` up to it, W moves there, the part equals the truth and rows after `until` wait; once the
 * UTC day is over the next dirty run computes it whole.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { truthTotals } from '../testing/truth.ts';
import { dirtyDays, runBatch } from './batch.job.ts';
import { BatchReader } from './batch.reader.ts';
import { writeLakeEvents } from './testing/lake.fixture.ts';
import { ViewsStore } from './views.store.ts';

const DAY = 86_400_000;
const H = 3_600_000;
const D1 = Date.UTC(2026, 2, 14);
const D2 = D1 + DAY;
/** New York's midnight of 15 March 2026 (EDT, UTC−4), in the middle of the UTC day D2. */
const NY_MIDNIGHT = D2 + 4 * H;
const events = [...generateTraffic({ seed: 77, sites: ['ny'], from: D1, to: D2 + 10 * H, events: 3_000, visitorsPerSite: 200 })];

afterAll(runCleanups);

describe('a UTC day computed up to a local midnight', () => {
  const dataDir = tempDir('partial-day');
  const options = { dataDir, versionsKeep: 3, duckdb: { memoryLimit: '512MB', threads: 2 } };

  it('computes the whole days and the part of the next one up to `until`, W there, the part exact', async () => {
    await writeLakeEvents(dataDir, events);
    const now = D2 + 10 * H;
    expect(dirtyDays(dataDir, null, now)).toEqual(['2026-03-14']);
    expect(dirtyDays(dataDir, null, now, NY_MIDNIGHT)).toEqual(['2026-03-14', '2026-03-15']);
    const run = await runBatch({ options, now: () => now }, { dirty: true, until: NY_MIDNIGHT });
    expect(run.status).toBe('ok');
    expect(run.watermark).toBe(NY_MIDNIGHT);
    expect(run.days.map((d) => [d.day, d.until ?? null])).toEqual([['2026-03-14', null], ['2026-03-15', NY_MIDNIGHT]]);
    const inPart = events.filter((e) => e.event_time >= D2 && e.event_time < NY_MIDNIGHT).length;
    expect(run.days[1]!.events).toBe(inPart);
    expect(run.errors).toEqual([]);

    const reader = new BatchReader({ dataDir, duckdb: options.duckdb });
    try {
      expect(await reader.coverage('ny')).toEqual({ from: D1, to: NY_MIDNIGHT });
      const got = await reader.totals({ site: 'ny', from: D1, to: D2 + DAY, metrics: [...METRICS] });
      const want = truthTotals(events, { site: 'ny', from: D1, to: NY_MIDNIGHT });
      for (const m of METRICS) expect(got[m], m).toBeCloseTo(want[m], 9);
    } finally {
      await reader.close();
    }
    // Covered that far already: nothing to do until a later midnight or the day's end.
    expect(dirtyDays(dataDir, new ViewsStore(dataDir).current(), now, NY_MIDNIGHT)).toEqual([]);
    expect(dirtyDays(dataDir, new ViewsStore(dataDir).current(), now, NY_MIDNIGHT + 3 * H)).toEqual(['2026-03-15']);
  });

  it('computes the day whole once it is over', async () => {
    const now = D2 + DAY + H;
    expect(dirtyDays(dataDir, new ViewsStore(dataDir).current(), now)).toEqual(['2026-03-15']);
    const run = await runBatch({ options, now: () => now }, { dirty: true });
    expect(run.status).toBe('ok');
    expect(run.watermark).toBe(D2 + DAY);
    expect(run.days.map((d) => [d.day, d.until ?? null])).toEqual([['2026-03-15', null]]);
    expect(run.days[0]!.events).toBe(events.filter((e) => e.event_time >= D2).length);
  });
});
