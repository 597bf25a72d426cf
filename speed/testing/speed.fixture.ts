/**
 * Traffic for the speed tests. Their expected numbers come from the one truth of the test kit
 * (testing/truth.ts), never from here.
 */
import { generateTraffic, type TrafficOptions } from '../../traffic/index.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';
import { rollupSite } from '../rollup.aggregator.ts';
import { EpochStore } from '../epoch.store.ts';
import { RollupWriter, type RollupWriterDeps } from '../rollup.writer.ts';
import type { BatchPosition, OffsetEvent } from '../types.ts';

export function traffic(o: Partial<TrafficOptions> & { events: number }): TwinlaneEvent[] {
  const now = Date.now();
  return [...generateTraffic({ seed: 42, sites: ['alpha', 'beta', 'gamma'], from: now - 60 * 60_000, to: now - 60_000, visitorsPerSite: 3_000, ...o })];
}

/**
 * Fills the speed store the way the consumer does, without Kafka: batches of `batchSize` events
 * as one partition's records, each site's events above its applied offset rolled up
 * (rollup.aggregator.ts) and applied by the compare-and-set script (rollup.writer.ts).
 */
export async function applyEvents(deps: RollupWriterDeps, events: readonly TwinlaneEvent[], batchSize = 1_000, pos: BatchPosition = { topic: 'events', partition: 0 }): Promise<void> {
  const writer = new RollupWriter(deps);
  // Nothing was lost before these writes: each site's epoch covers everything (as a consumer group
  // reading its topic from the beginning makes it).
  const epochs = new EpochStore(deps.redis, deps.keys);
  for (const site of new Set(events.map((e) => e.site_id))) await epochs.ensure(site, 0, true);
  for (let i = 0; i < events.length; i += batchSize) {
    const bySite = new Map<string, OffsetEvent[]>();
    events.slice(i, i + batchSize).forEach((event, j) => {
      let list = bySite.get(event.site_id);
      if (!list) bySite.set(event.site_id, (list = []));
      list.push({ offset: String(i + j), event });
    });
    const applied = await writer.appliedOffsets([...bySite.keys()], pos);
    const items = [...bySite].flatMap(([site, list]) => {
      const rollup = rollupSite(site, list, applied.get(site) ?? null);
      return rollup ? [{ rollup, expected: applied.get(site) ?? null }] : [];
    });
    const results = await writer.apply(items, pos);
    if (!results.every((r) => r.applied)) throw new Error(`a rollup was not applied: ${JSON.stringify(results)}`);
  }
}
