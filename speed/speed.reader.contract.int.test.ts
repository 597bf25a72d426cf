/**
 * The speed store against the read contract's shared suite, on the real Redis: the events go in
 * through the consumer's own roll-up and compare-and-set write, and come out through SpeedReader.
 * Counts and revenue must be exact, visitors and sessions within the HyperLogLog bound; what the
 * store keeps no rollup for (query.planner.ts) it may refuse, and bounce rate and visit duration
 * it leaves out.
 */
import { afterAll } from 'vitest';
import { CONTRACT_PROPERTY, viewReaderContract, type ContractQuery } from '../core/views.contract.ts';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { HLL_DIMS, SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { applyEvents } from './testing/speed.fixture.ts';

/** Longer than the suite's two days before today, so every bucket is still covered; longer still for the time-zone cases. */
const TTL = 7 * 86_400_000;

/** What the store answers, as speed/README.md states it; anything else it may refuse. */
function speedRefuses(q: ContractQuery): boolean {
  const conditions = q.conditions ?? [];
  const keys = Object.keys(q.filters);
  // Every dimension the query constrains, by equality or by a condition.
  const dims = new Set([...keys, ...conditions.map((c) => c.dimension as string)]);
  const constraints = keys.length + conditions.length;
  const perPage = dims.has('page') || dims.has('referrer');
  // Per-value visitor sketches: country, device, and event names other than page views' `pageview`.
  const names = [...(q.filters.event_name !== undefined ? [q.filters.event_name] : []), ...conditions.filter((c) => c.dimension === 'event_name' && c.op === 'is').flatMap((c) => c.values)];
  const byName = dims.size === 1 && dims.has('event_name') && names.length > 0 && !names.includes('pageview') && conditions.every((c) => c.op === 'is' || c.op === 'matches');
  const oneSketchDim = (dims.size === 1 && (HLL_DIMS as readonly string[]).includes([...dims][0]!)) || byName;
  // Custom properties: values per listed key apart from the tuples, page views and custom events only, no filter on one;
  // no pages per visit, so no filter on a visit's entry or exit page.
  if ([...dims].some((d) => d.startsWith('prop:') || d === 'entry_page' || d === 'exit_page')) return true;
  if (q.kind === 'breakdown') {
    if (q.visitPage) return true;
    const props = (q.dimensions ?? [q.dimension]).filter((d) => d.startsWith('prop:'));
    if (props.length > 0) return (q.dimensions?.length ?? 1) > 1 || (q.metric !== 'pageviews' && q.metric !== 'events') || constraints > 0;
    const several = q.dimensions && q.dimensions.length > 1 ? q.dimensions : undefined;
    if (several) return several.includes('page') || several.includes('referrer') || q.metric === 'visitors' || perPage;
    if (q.dimension === 'page' || q.dimension === 'referrer') return q.metric !== 'pageviews' || constraints > 0;
    if (perPage) return true;
    return q.metric === 'visitors' && (!(HLL_DIMS as readonly string[]).includes(q.dimension) || constraints > 0);
  }
  if (constraints === 0) return false;
  if (q.metrics.some((m) => m === 'sessions' || m === 'bounce_rate' || m === 'visit_duration')) return true;
  if (q.metrics.includes('visitors') && !oneSketchDim) return true;
  if (perPage) return constraints > 1 || q.metrics.some((m) => m !== 'pageviews' && m !== 'bounce_rate' && m !== 'visit_duration');
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
    await applyEvents({ redis, keys, ttlMs }, events, undefined, undefined, () => [CONTRACT_PROPERTY]);
    return new SpeedReader({ redis, keys, ttlMs });
  },
  { approximateMetrics: ['visitors', 'sessions'], refuses: speedRefuses },
);
