/**
 * The speed store against the read contract's shared suite, on the real Redis: the events go in
 * through the consumer's own roll-up and compare-and-set write, and come out through SpeedReader.
 * Counts and revenue must be exact, visitors and sessions within the HyperLogLog bound; what the
 * store keeps no rollup for (query.planner.ts) it may refuse, and bounce rate and visit duration
 * it leaves out.
 */
import { afterAll } from 'vitest';
import { viewReaderContract, type ContractQuery } from '../core/views.contract.ts';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { HLL_DIMS, SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { applyEvents } from './testing/speed.fixture.ts';

/** Longer than the suite's two days before today, so every bucket is still covered; longer still for the time-zone cases. */
const TTL = 7 * 86_400_000;

/** What the store answers, as speed/README.md states it; anything else it may refuse. */
function speedRefuses(q: ContractQuery): boolean {
  const keys = Object.keys(q.filters);
  const oneSketchFilter = keys.length === 1 && (HLL_DIMS as readonly string[]).includes(keys[0]!);
  if (q.kind === 'breakdown') {
    if (q.dimension === 'page' || q.dimension === 'referrer') return q.metric !== 'pageviews' || keys.length > 0;
    return q.metric === 'visitors' && (!(HLL_DIMS as readonly string[]).includes(q.dimension) || keys.length > 0);
  }
  if (keys.length === 0) return false;
  if (q.metrics.some((m) => m === 'sessions' || m === 'bounce_rate' || m === 'visit_duration')) return true;
  if (q.metrics.includes('visitors') && !oneSketchFilter) return true;
  if (keys.includes('page') || keys.includes('referrer')) return keys.length > 1 || q.metrics.some((m) => m !== 'pageviews' && m !== 'bounce_rate' && m !== 'visit_duration');
  return false;
}

afterAll(runCleanups);

viewReaderContract(
  'speed store (Redis)',
  async ({ events, from }) => {
    const { redis, prefix } = testRedis(testConfig());
    const keys = new SpeedKeys(prefix + 'speed');
    // The time-zone cases' data lie weeks back (around the last DST changes); coverage reaches
    // back over the month holding their first day, as speed answers only buckets it covers whole.
    const ttlMs = Math.max(TTL, Date.now() - from + 45 * 86_400_000);
    await applyEvents({ redis, keys, ttlMs }, events);
    return new SpeedReader({ redis, keys, ttlMs });
  },
  { approximateMetrics: ['visitors', 'sessions'], refuses: speedRefuses },
);
