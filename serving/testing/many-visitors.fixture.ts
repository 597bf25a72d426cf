/**
 * Batch views with many distinct visitors over a long range, for the memory bound of uniques
 * across W (test and bench): `visitors` ids, one page view each, spread over `days` days within
 * the 400 days before W (the real lake and batch job), and a few hundred events after W in the
 * speed store, some by batch visitors, some new.
 */
import { BatchReader, formatDay, runBatch } from '../../batch/index.ts';
import { writeLakeEvents } from '../../batch/testing/lake.fixture.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { SpeedKeys, SpeedReader } from '../../speed/index.ts';
import { applyEvents } from '../../speed/testing/speed.fixture.ts';
import { alignDown } from '../../core/views.ts';
import { onCleanup, tempDir, testConfig, testRedis } from '../../testing/helpers.ts';
import { generateTraffic } from '../../traffic/index.ts';
import type { BatchViews } from '../types.ts';
import type { MergeContext } from '../view.merger.ts';

const DAY = 86_400_000;
const DUCKDB = { memoryLimit: '512MB', threads: 2 };

export interface ManyVisitors {
  ctx: MergeContext;
  /** Where the stores are, for a process of its own to open them (the bench measures one). */
  dataDir: string;
  speedPrefix: string;
  ttlMs: number;
  site: string;
  /** 400 days before W to now. */
  from: number;
  to: number;
  W: number;
  /** Distinct visitors of the whole range, counted from the events. */
  distinct: number;
}

export async function manyVisitorsStores(name: string, visitors: number, days: number): Promise<ManyVisitors> {
  const site = 'many';
  // At least an hour before now, so the page views after W spread over an hour or more whatever the time of day.
  const W = alignDown(Date.now() - 3_600_000, 'day');
  const [template] = [...generateTraffic({ seed: 7, sites: [site], from: W - DAY, to: W - DAY + 60_000, events: 1, botFraction: 0 })];
  const dayStarts = Array.from({ length: days }, (_, i) => W - DAY - Math.floor((i * 399) / Math.max(1, days - 1)) * DAY);
  const batchEvents: TwinlaneEvent[] = [];
  for (let i = 0; i < visitors; i++) {
    const day = dayStarts[i % days]!;
    const t = day + ((i * 7_919) % DAY);
    batchEvents.push({ ...template!, event_id: `many-${i}`, type: 'pageview', name: 'pageview', is_bot: false, visitor_id: `visitor-${i}`, session_id: `s-${i}`, event_time: t, received_time: t });
  }
  const dataDir = tempDir(name);
  await writeLakeEvents(dataDir, batchEvents);
  const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { dates: [...new Set(dayStarts)].map(formatDay) });
  if (run.status !== 'ok') throw new Error(`batch run: ${run.status} ${JSON.stringify(run.errors)}`);
  const batch = new BatchReader({ dataDir, duckdb: DUCKDB });
  onCleanup(() => batch.close());
  // After W: 300 page views, a third by visitors batch has seen.
  const speedEvents = Array.from({ length: 300 }, (_, i): TwinlaneEvent => {
    const t = W + Math.floor(((Date.now() - 60_000 - W) * i) / 300);
    return { ...template!, event_id: `after-${i}`, type: 'pageview', name: 'pageview', is_bot: false, visitor_id: i % 3 === 0 ? `visitor-${i}` : `new-${i}`, session_id: `a-${i}`, event_time: t, received_time: t };
  });
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'speed');
  const ttlMs = 3 * DAY;
  await applyEvents({ redis, keys, ttlMs }, speedEvents);
  const distinct = new Set([...batchEvents, ...speedEvents].map((e) => e.visitor_id)).size;
  const snapshot = (await batch.snapshot()) as BatchViews;
  return { ctx: { batch: snapshot, speed: new SpeedReader({ redis, keys, ttlMs }), choice: 'merged', now: Date.now() }, dataDir, speedPrefix: prefix + 'speed', ttlMs, site, from: W - 400 * DAY, to: Date.now(), W, distinct };
}
