/**
 * An emptied Redis is never served as zeros (issue: safe on the internet, part 2): FLUSHALL while
 * events flow; the lost minutes after W are `missing` until the speed layer has rebuilt them from
 * Kafka by itself, then every minute equals the truth. Real broker, a Redis of the test's own (the
 * shared one is not flushed), the real consumer and reader, serving's merge.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { SpeedKeys, SpeedReader } from '../speed/index.ts';
import { consumerOnTopic } from '../speed/testing/speed.fixture.ts';
import { privateRedis, runCleanups, testConfig, waitUntil } from '../testing/helpers.ts';
import { truthSeries } from '../testing/truth.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { generateTraffic } from '../traffic/index.ts';
import { mergeSeries } from './view.merger.ts';

const MIN = 60_000;

describe('speed store flushed during traffic', () => {
  afterAll(runCleanups);

  it('serves the lost minutes as missing until the speed layer rebuilt them from W, then the truth', async () => {
    const config = testConfig();
    const { redis } = await privateRedis(256 * 2 ** 20);
    const now = Math.floor(Date.now() / MIN) * MIN;
    const W = now - 40 * MIN;
    const sites = ['alpha', 'beta'];
    const events = [...generateTraffic({ seed: 17, sites, from: W - 10 * MIN, to: now - MIN, events: 8_000, visitorsPerSite: 800 })];
    const older = events.filter((e) => e.event_time < now - 20 * MIN);
    const newer = events.filter((e) => e.event_time >= now - 20 * MIN);
    const fx = await consumerOnTopic(config, redis, { name: 'flush-events', partitions: 2, watermark: W, options: { keyPrefix: 'flush', epochCheckMs: 500, rebuildLeaseMs: 6_000, rebuildTailMs: 60_000 } });
    const { options } = fx;
    const produce = fx.produce;
    const reader = new SpeedReader({ redis, keys: new SpeedKeys(options.keyPrefix), ttlMs: options.ttlMs });
    const series = (site: string) => mergeSeries({ site, from: W, to: now, grain: 'minute', metrics: ['pageviews', 'visitors'] }, { batch: null, speed: reader, choice: 'merged', now: Date.now() });
    const truthOf = (list: TwinlaneEvent[], site: string) => truthSeries(list.filter((e) => e.event_time >= W), { site, grain: 'minute', from: W, to: now });
    /** Every minute of [W, now) of every site: ok and equal to the truth of `list`, or (`missing`) missing. */
    const check = async (list: TwinlaneEvent[], missingBefore = -Infinity): Promise<string[]> => {
      const problems: string[] = [];
      for (const site of sites) {
        const truth = truthOf(list, site);
        const points = new Map((await series(site)).points.map((p) => [p.start, p]));
        for (const [start, want] of truth) {
          const p = points.get(start);
          const at = `${site} ${new Date(start).toISOString()}`;
          if (!p) problems.push(`${at}: no bucket`);
          else if (start < missingBefore) {
            if (p.status !== 'missing' || p.values.pageviews !== null) problems.push(`${at}: ${p.status} ${p.values.pageviews}, want missing`);
          } else if (p.status !== 'ok' || p.values.pageviews !== want.pageviews || !withinSketchBound(p.values.visitors ?? -1, want.visitors)) {
            problems.push(`${at}: ${p.status} ${p.values.pageviews}/${p.values.visitors}, want ${want.pageviews}/${want.visitors}`);
          }
        }
      }
      return problems;
    };

    await produce(older);
    await waitUntil('the older events counted', async () => (await check(older)).length === 0, 60_000, 250);

    await redis.flushall();
    // At once: nothing known, nothing served as a number.
    expect(await check(older, Infinity)).toEqual([]);
    // The consumers see the loss without any new event, and begin a new epoch at the next minute.
    const gauge = async (name: string) => (await fx.metric(name)) || 0;
    await waitUntil('the loss seen', async () => (await gauge('speed_epochs_lost_total')) >= sites.length, 20_000, 100);

    // Traffic goes on; the newer events (all before the split) are the rebuild's.
    await produce(newer);
    await waitUntil('every minute rebuilt and equal to the truth', async () => (await check(events)).length === 0, 90_000, 500);
    expect(await gauge('speed_epoch_rebuilds_total')).toBeGreaterThanOrEqual(sites.length);
    const problems = await check(events);
    expect(problems).toEqual([]);
    await fx.stop();
  }, 180_000);
});
