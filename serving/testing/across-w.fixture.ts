/**
 * The contract suite's events on both sides of W in the real stores: the batch views hold the
 * first day (W at its end, computed by the real batch job over a temporary lake), the speed
 * store (Redis) holds every event. Shared by the serving tests that merge across W.
 */
import { expect } from 'vitest';
import { BatchReader, formatDay, runBatch } from '../../batch/index.ts';
import { writeLakeEvents } from '../../batch/testing/lake.fixture.ts';
import type { contractData } from '../../core/views.contract.ts';
import { SpeedKeys, SpeedReader } from '../../speed/index.ts';
import { applyEvents } from '../../speed/testing/speed.fixture.ts';
import { onCleanup, tempDir, testConfig, testRedis } from '../../testing/helpers.ts';
import type { BatchViews } from '../types.ts';
import type { MergeContext } from '../view.merger.ts';

const DAY = 86_400_000;
const TTL = 7 * DAY;
const DUCKDB = { memoryLimit: '512MB', threads: 2 };

type ContractData = ReturnType<typeof contractData>;

/** W of `storesAcrossW`: the end of the data's first day. */
export const acrossWWatermark = (data: ContractData): number => data.from + DAY;

export async function storesAcrossW(name: string, data: ContractData): Promise<MergeContext> {
  const { events, from } = data;
  const W = acrossWWatermark(data);
  const dataDir = tempDir(name);
  await writeLakeEvents(dataDir, events.filter((e) => e.event_time < W));
  const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { dates: [formatDay(from)] });
  expect(run).toMatchObject({ status: 'ok', watermark: W });
  const batch = new BatchReader({ dataDir, duckdb: DUCKDB });
  onCleanup(() => batch.close());
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'speed');
  await applyEvents({ redis, keys, ttlMs: TTL }, events);
  return { batch: (await batch.snapshot()) as BatchViews, speed: new SpeedReader({ redis, keys, ttlMs: TTL }), choice: 'merged', now: Date.now() };
}
