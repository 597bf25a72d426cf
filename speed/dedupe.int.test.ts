/**
 * A retried event counts once in speed too (privacy and lifecycle issue, part 5): the SDK and the
 * tracker resend an event with its id when an answer was lost; the consumer drops an id it has
 * counted within SPEED_DEDUPE_WINDOW, whether the copy comes in the same batch or minutes of
 * traffic later, so speed agrees with batch (which dedupes by id). Real Kafka, Redis, consumer.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis, waitUntil } from '../testing/helpers.ts';
import { truthTotals } from '../testing/truth.ts';
import { SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { consumerOnTopic, traffic } from './testing/speed.fixture.ts';

const TTL = 3_600_000;

describe('client retries in the speed layer', () => {
  afterAll(runCleanups);

  it('counts an event id once: copies in the same batch and in a later one are dropped; without dedupe they would count', async () => {
    const config = testConfig();
    const { redis, prefix } = testRedis(config);
    const from = Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000;
    const events = traffic({ events: 3_000, sites: ['alpha', 'beta'], from, to: from + 15 * 60_000 });
    // A client retry is the same event (same id and time) sent again: 200 at once, 300 later.
    const sameBatch = events.filter((_, i) => i % 15 === 0);
    const later = events.filter((_, i) => i % 10 === 3);
    const fx = await consumerOnTopic(config, redis, { name: 'speed-dedupe', partitions: 2, watermark: null, options: { keyPrefix: `${prefix}dedupe`, dedupeMs: 600_000 } });
    const skipped = async () => Number(/twinlane_speed_events_skipped_total\{reason="duplicate_event"\} (\d+)/.exec(await fx.metrics.text())?.[1] ?? 0);
    try {
      await fx.produce([...events, ...sameBatch]);
      await waitUntil('the first copies consumed', async () => (await skipped()) >= sameBatch.length, 30_000, 100);
      await fx.produce(later);
      await waitUntil('the later copies consumed', async () => (await skipped()) >= sameBatch.length + later.length, 30_000, 100);
      expect(await skipped()).toBe(sameBatch.length + later.length);
      const reader = new SpeedReader({ redis, keys: new SpeedKeys(`${prefix}dedupe`), ttlMs: TTL });
      for (const site of ['alpha', 'beta']) {
        const range = { site, from, to: from + 15 * 60_000 };
        const truth = truthTotals(events, range);
        expect(truth.pageviews).toBeGreaterThan(500);
        const got = await reader.totals({ ...range, metrics: ['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'] });
        expect(got, site).toEqual({ pageviews: truth.pageviews, events: truth.events, purchases: truth.purchases, revenue: truth.revenue, bot_pageviews: truth.bot_pageviews });
      }
    } finally {
      await fx.stop();
    }
  }, 90_000);
});
