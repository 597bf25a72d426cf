/**
 * Whole batch days as the visitor sketches the batch job wrote (batch/visitor.sketches.ts): a
 * visitors total across W merges them instead of streaming the days' ids, and gives the very
 * answer the streamed ids give (the sketch made in the batch job has PFADD's registers), within
 * the sketch bound of the truth counted from the events. Days below the threshold, a day only
 * partly in the range and filtered questions stream their ids. Real lake, batch job, DuckDB and Redis.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchReader, formatDay, runBatch, type BatchSnapshot } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';
import { openDuckDB } from '../core/duckdb.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { SpeedKeys, SpeedReader } from '../speed/index.ts';
import { applyEvents } from '../speed/testing/speed.fixture.ts';
import { alignDown } from '../core/views.ts';
import { onCleanup, runCleanups, tempDir, testConfig, testRedis } from '../testing/helpers.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { generateTraffic } from '../traffic/index.ts';
import type { BatchViews } from './types.ts';
import { mergeTotals, type MergeContext } from './view.merger.ts';

const DAY = 86_400_000;
/** At least an hour before now, so the page views after W spread over an hour or more whatever the time of day. */
const W = alignDown(Date.now() - 3_600_000, 'day');
/** Visitors of the big site per day: two days above the threshold (2,000), one below. */
const BIG_DAYS = [
  { start: W - 3 * DAY, visitors: 3_000, first: 0 },
  { start: W - 2 * DAY, visitors: 2_500, first: 1_500 },
  { start: W - DAY, visitors: 800, first: 3_500 },
];

describe('visitor sketches of whole batch days', () => {
  const events: TwinlaneEvent[] = [];
  let snapshot: BatchSnapshot;
  let ctx: MergeContext;
  let dataDir: string;

  beforeAll(async () => {
    const [template] = [...generateTraffic({ seed: 11, sites: ['big'], from: W - DAY, to: W - DAY + 60_000, events: 1, botFraction: 0 })];
    const event = (site: string, visitor: string, t: number, i: number): TwinlaneEvent => ({ ...template!, site_id: site, event_id: `${site}-${i}`, type: 'pageview', name: 'pageview', is_bot: false, country: i % 2 ? 'DE' : 'FR', visitor_id: visitor, session_id: `s-${i}`, event_time: t, received_time: t });
    let i = 0;
    for (const d of BIG_DAYS) for (let v = 0; v < d.visitors; v++) events.push(event('big', `visitor-${d.first + v}`, d.start + ((v * 7_919) % DAY), i++));
    for (const d of BIG_DAYS) for (let v = 0; v < 100; v++) events.push(event('small', `small-${v}`, d.start + v * 60_000, i++));
    dataDir = tempDir('visitor-sketches');
    await writeLakeEvents(dataDir, events);
    const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '512MB', threads: 2 } } }, { dates: BIG_DAYS.map((d) => formatDay(d.start)) });
    expect(run.status, JSON.stringify(run.errors)).toBe('ok');
    const reader = new BatchReader({ dataDir });
    onCleanup(() => reader.close());
    snapshot = (await reader.snapshot())!;
    // After W: page views by visitors batch has seen and by new ones.
    const after = Array.from({ length: 200 }, (_, k) => event('big', k % 2 ? `visitor-${k * 7}` : `new-${k}`, W + Math.floor(((Date.now() - 60_000 - W) * k) / 200), i++));
    events.push(...after);
    const { redis, prefix } = testRedis(testConfig());
    const keys = new SpeedKeys(prefix + 'speed');
    await applyEvents({ redis, keys, ttlMs: 3 * DAY }, after);
    ctx = { batch: snapshot as BatchViews, speed: new SpeedReader({ redis, keys, ttlMs: 3 * DAY }), choice: 'merged', now: Date.now() };
  }, 120_000);
  afterAll(runCleanups);

  const distinct = (pick: (e: TwinlaneEvent) => boolean) => new Set(events.filter(pick).map((e) => e.visitor_id));
  const streamed = async (ids: () => AsyncIterable<readonly string[]>) => {
    const out = new Set<string>();
    for await (const chunk of ids()) for (const id of chunk) out.add(id);
    return out;
  };

  it('writes one sketch per site and day above the threshold, none below', async () => {
    const db = await openDuckDB({ memoryLimit: '256MB', threads: 1, tempDir: join(dataDir, 'check_tmp') });
    try {
      const rows = (await db.conn.runAndReadAll(`SELECT regexp_extract(filename, 'days/([0-9-]+)/', 1) AS day, site_id, length(visitors)::INTEGER AS n FROM read_parquet($g, filename = true) ORDER BY day, site_id`, { g: join(dataDir, 'views/days/*/*/sketches.parquet') })).getRowObjectsJS();
      expect(rows).toEqual(BIG_DAYS.filter((d) => d.visitors >= 2_000).map((d) => ({ day: formatDay(d.start), site_id: 'big', n: 2 * 12_304 })));
    } finally {
      db.close();
    }
  });

  it('streams only the days no sketch stands for, and the sketch holds the rest', async () => {
    const sets = snapshot.visitorSets('big', W - 3 * DAY, W);
    const ids = await streamed(sets.ids);
    const belowDay = BIG_DAYS[2]!;
    expect(ids).toEqual(distinct((e) => e.site_id === 'big' && e.event_time >= belowDay.start && e.event_time < W));
    const sketch = await sets.sketch!();
    expect(sketch?.length).toBe(12_304);
    const { redis, prefix } = testRedis(testConfig());
    await redis.set(`${prefix}sketch`, sketch!);
    const want = distinct((e) => e.site_id === 'big' && e.event_time >= W - 3 * DAY && e.event_time < W - DAY).size;
    const got = await redis.pfcount(`${prefix}sketch`);
    expect(withinSketchBound(got, want), `${got} against ${want}`).toBe(true);
  });

  it('a day partly in the range, a filter, a small site: no sketch, every id streamed', async () => {
    const partial = snapshot.visitorSets('big', W - 3 * DAY + 3_600_000, W);
    // The first day is in part, the second whole and sketched, the third below the threshold.
    expect(await streamed(partial.ids)).toEqual(distinct((e) => e.site_id === 'big' && ((e.event_time >= W - 3 * DAY + 3_600_000 && e.event_time < W - 2 * DAY) || (e.event_time >= W - DAY && e.event_time < W))));
    expect((await partial.sketch!())?.length).toBe(12_304);
    const filtered = snapshot.visitorSets('big', W - 3 * DAY, W, { country: 'DE' });
    expect(await filtered.sketch!()).toBeNull();
    expect(await streamed(filtered.ids)).toEqual(distinct((e) => e.site_id === 'big' && e.country === 'DE' && e.event_time < W));
    const small = snapshot.visitorSets('small', W - 3 * DAY, W);
    expect(await small.sketch!()).toBeNull();
    expect(await streamed(small.ids)).toEqual(distinct((e) => e.site_id === 'small'));
  });

  it('a visitors total across W: the same answer as from the streamed ids, within the sketch bound of the truth', async () => {
    const q = { site: 'big', from: W - 3 * DAY, to: Date.now(), metrics: ['visitors' as const] };
    const viaSketches = await mergeTotals(q, ctx);
    expect(viaSketches.uniques).toBe('union');
    // The same question with the batch side offering ids only (no sketches).
    const idsOnly = Object.assign(Object.create(snapshot) as BatchSnapshot, { version: `${snapshot.version}-ids`, visitorSets: undefined });
    const viaIds = await mergeTotals(q, { ...ctx, batch: idsOnly as BatchViews });
    expect(viaIds.uniques).toBe('union');
    expect(viaSketches.values.visitors).toBe(viaIds.values.visitors);
    const want = distinct((e) => e.site_id === 'big').size;
    expect(withinSketchBound(viaSketches.values.visitors!, want), `${viaSketches.values.visitors} against ${want}`).toBe(true);
  });
});
