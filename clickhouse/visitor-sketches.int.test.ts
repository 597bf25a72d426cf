/**
 * The visitor sketches published into ClickHouse answer as the day folders do: for whole days,
 * a part of a day and a filter, ClickHouse's `visitorSets` gives the DuckDB reader's merged sketch
 * byte for byte and the same streamed ids, and sketch ∪ ids has the registers of every visitor id
 * of the range. Real lake, batch job, publisher and ClickHouse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchReader, formatDay, runBatch, type BatchSnapshot } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';
import type { IdSets } from '../core/day-sketches.ts';
import { RedisHll } from '../core/redis-hll.ts';
import type { Filters } from '../core/views.ts';
import { onCleanup, runCleanups, tempDir } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { viewsFixture } from './testing/views.fixture.ts';
import type { ClickHouseSnapshot } from './views.reader.ts';

const DAY = 86_400_000;
const W = Math.floor(Date.now() / DAY) * DAY;
const FROM = W - 3 * DAY;

describe('visitor sketches in ClickHouse', () => {
  let duck: BatchSnapshot;
  let ch: ClickHouseSnapshot;

  beforeAll(async () => {
    // Site a has about 620 visitors a day, site b about 160.
    const events = [...generateTraffic({ seed: 21, sites: ['a'], from: FROM, to: W, events: 9_000, visitorsPerSite: 1_500 }), ...generateTraffic({ seed: 21, sites: ['b'], from: FROM, to: W, events: 1_500, visitorsPerSite: 1_500 })];
    const dataDir = tempDir('ch-visitor-sketches');
    await writeLakeEvents(dataDir, events);
    // A threshold site b's days miss and site a's pass.
    const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 }, sketchMinVisitors: 400 } }, { from: formatDay(FROM), to: formatDay(W - DAY) });
    expect(run.status, JSON.stringify(run.errors)).toBe('ok');
    const reader = new BatchReader({ dataDir });
    onCleanup(() => reader.close());
    duck = (await reader.snapshot())!;
    const views = viewsFixture(dataDir);
    onCleanup(() => views.close());
    expect((await views.publish()).version).toBe(run.version);
    ch = (await views.reader.snapshot())!;
  }, 180_000);
  afterAll(runCleanups);

  const registers = async (sets: IdSets): Promise<{ sketch: Buffer | null; ids: Set<string>; all: RedisHll }> => {
    const sketch = (await sets.sketch?.()) ?? null;
    const all = sketch ? RedisHll.fromBuffer(sketch) : new RedisHll();
    const ids = new Set<string>();
    for await (const chunk of sets.ids()) for (const id of chunk) ids.add(id);
    for (const id of ids) all.add(id);
    return { sketch, ids, all };
  };

  // [case, site, from, to, filters, days the sketch stands for]
  const cases: [string, string, number, number, Filters | undefined, number][] = [
    ['whole days', 'a', FROM, W, undefined, 3],
    ['a site below the threshold', 'b', FROM, W, undefined, 0],
    ['a part of the first day', 'a', FROM + 5 * 3_600_000, W, undefined, 2],
    ['a filter', 'a', FROM, W, { device: 'mobile' }, 0],
  ];
  it.each(cases)('%s: the same sketch and ids as the day folders, and together every visitor', async (_name, site, from, to, filters, sketched) => {
    const [d, c] = await Promise.all([registers(duck.visitorSets(site, from, to, filters)), registers(ch.visitorSets(site, from, to, filters))]);
    if (sketched === 0) expect(d.sketch).toBeNull();
    else expect(d.sketch?.length).toBe(12_304);
    expect(c.sketch).toEqual(d.sketch);
    expect(c.ids).toEqual(d.ids);
    const every = new RedisHll();
    for await (const chunk of duck.visitorIds(site, from, to, filters)) for (const id of chunk) every.add(id);
    expect(Buffer.from(d.all.registers).equals(Buffer.from(every.registers))).toBe(true);
    // Streamed: only the days no sketch stands for.
    const rest = new Set<string>();
    for (let day = FROM; day < W; day += DAY) {
      if (sketched > 0 && day >= from) continue;
      for await (const chunk of duck.visitorIds(site, Math.max(day, from), day + DAY, filters)) for (const id of chunk) rest.add(id);
    }
    expect(d.ids).toEqual(rest);
  });
});
