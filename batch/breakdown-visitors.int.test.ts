/**
 * The day's breakdowns count distinct visitors on 64-bit hashes of their ids when no two of a
 * site's visitors share one (views.sql.ts VISITOR_HASH_SQL), on the ids otherwise. Both ways must
 * give the truth: the second is forced with a key that tells only two visitors apart, which would
 * count at most two visitors per value if the job kept it.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { DIMENSIONS } from '../core/views.ts';
import { generateTraffic } from '../traffic/index.ts';
import { dedupe, truthBreakdown } from '../testing/truth.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { runBatch } from './batch.job.ts';
import { BatchReader } from './batch.reader.ts';
import { writeLakeEvents } from './testing/lake.fixture.ts';

const D = Date.UTC(2026, 2, 14);
const DAY = 86_400_000;
const SITES = ['alpha', 'beta'];

describe('distinct visitors of the day’s breakdowns', () => {
  afterAll(runCleanups);

  it.each([
    ['hashes', undefined],
    ['ids', 'hash(visitor_id) % 2'],
  ] as const)('equal the truth counted on %s', async (expectedKey, visitorKey) => {
    const dataDir = tempDir('breakdown-visitors');
    const events = dedupe(generateTraffic({ seed: 7, sites: SITES, from: D, to: D + DAY, events: 6_000, visitorsPerSite: 400 }));
    await writeLakeEvents(dataDir, events);
    const logger = silentLogger();
    const info = vi.spyOn(logger, 'info');
    const options = { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } };
    const record = await runBatch({ options, logger, now: () => D + 2 * DAY, ...(visitorKey ? { visitorKey } : {}) }, { dates: ['2026-03-14'] });
    expect(record.status).toBe('ok');
    expect(info.mock.calls.map(([line]) => line as unknown as Record<string, unknown>).find((l) => l.event === 'batch_day_done')?.breakdown_visitors).toBe(expectedKey);
    const reader = new BatchReader({ dataDir });
    try {
      let compared = 0;
      for (const site of SITES)
        for (const dimension of DIMENSIONS) {
          const expected = truthBreakdown(events, { site, from: D, to: D + DAY, dimension, metric: 'visitors' });
          expect(expected.length, `${site} ${dimension}: the truth has values`).toBeGreaterThan(0);
          const got = await reader.breakdown({ site, from: D, to: D + DAY, dimension, metric: 'visitors', limit: 1000 });
          const byValue = new Map(got.map((r) => [r.value, r.count]));
          for (const want of expected) expect(byValue.get(want.value), `${site} ${dimension} ${want.value}`).toBe(want.count);
          expect(got.length, `${site} ${dimension}: no value beyond the truth's`).toBe(expected.length);
          compared += expected.length;
        }
      expect(compared).toBeGreaterThan(50);
    } finally {
      await reader.close();
    }
  });
});
