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
import type { PropertyKeys } from '../../speed/index.ts';
import { onCleanup, tempDir, testConfig, testRedis } from '../../testing/helpers.ts';
import type { BatchViews } from '../types.ts';
import type { MergeContext } from '../view.merger.ts';

const DAY = 86_400_000;
const TTL = 7 * DAY;
const DUCKDB = { memoryLimit: '512MB', threads: 2 };

type ContractData = ReturnType<typeof contractData>;

/** W of `storesAcrossW`: the end of the data's first day. */
export const acrossWWatermark = (data: ContractData): number => data.from + DAY;

/**
 * `W` (a UTC midnight; default the end of the data's first day): the batch views hold the UTC days
 * before it, the speed store every event, with a TTL reaching back over the month of the data's start.
 */
export async function storesAcrossW(name: string, data: ContractData, W = acrossWWatermark(data), propertyKeys?: PropertyKeys): Promise<MergeContext> {
  const { events, from } = data;
  const dataDir = tempDir(name);
  await writeLakeEvents(dataDir, events.filter((e) => e.event_time < W));
  const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { from: formatDay(from), to: formatDay(W - DAY) });
  expect(run).toMatchObject({ status: 'ok', watermark: W });
  const batch = new BatchReader({ dataDir, duckdb: DUCKDB });
  onCleanup(() => batch.close());
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'speed');
  const ttlMs = Math.max(TTL, Date.now() - from + 45 * DAY);
  await applyEvents({ redis, keys, ttlMs }, events, undefined, undefined, propertyKeys);
  return { batch: (await batch.snapshot()) as BatchViews, speed: new SpeedReader({ redis, keys, ttlMs }), choice: 'merged', now: Date.now() };
}

/** A row of the query API's answer. */
export type AnswerRow = { dimensions: string[]; metrics: (number | null)[]; exact?: boolean };

/** Every row of the truth is in the answer with its count (`key`: the row's dimensions as JSON), and the answer holds nothing else. */
export function expectRows(got: readonly AnswerRow[], want: readonly { key: string; count: number }[], where: string): void {
  const answered = new Map(got.map((r) => [JSON.stringify(r.dimensions), r.metrics[0]]));
  for (const w of want) {
    if (!answered.has(w.key)) expect.unreachable(`${where}: truth row ${w.key} (${w.count}) is missing`);
    expect(answered.get(w.key), `${where} ${w.key}`).toBe(w.count);
  }
  expect(got.length, `${where}: rows beyond the truth's`).toBe(want.length);
}
