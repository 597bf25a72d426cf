/**
 * Visits are cut on the consumer against the visitor states it read (visit.cutter.ts); the apply
 * script checks those states again. Against the real Redis: a call cut against a state that moved
 * since writes nothing and answers 2 (offsets and counters untouched), and the writer then reads
 * the states again, cuts again and applies, continuing the visit the state holds.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EpochStore } from './epoch.store.ts';
import { encodeApply } from './apply.script.ts';
import { offsetField, SpeedKeys, toMinute } from './redis.keys.ts';
import { rollupSite } from './rollup.aggregator.ts';
import { RollupWriter } from './rollup.writer.ts';

const TTL = 3_600_000;

describe('visitor states checked by the apply script', () => {
  const { redis, prefix } = testRedis(testConfig());
  const keys = new SpeedKeys(prefix + 'vs');
  const site = keys.site('s');
  const writer = new RollupWriter({ redis, keys, ttlMs: TTL });
  afterAll(runCleanups);

  it('writes nothing when a state moved since it was read, then cuts again and continues the visit', async () => {
    await new EpochStore(redis, keys).ensure('s', 0, true);
    const t = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const [proto] = generateTraffic({ seed: 3, sites: ['s'], from: t, to: t + 60_000, events: 1 });
    const event = (ms: number) => ({ ...proto!, type: 'pageview' as const, is_bot: false, visitor_id: 'x', event_time: ms });
    const pos = { topic: 'events', partition: 0 };
    const first = rollupSite('s', [{ offset: '0', event: event(t) }])!;
    expect(await writer.apply([{ rollup: first, expected: null }], pos)).toEqual([{ applied: true }]);
    expect(await redis.hget(site.visitState, 'x')).toBe(`${t}:${t}`);

    // Cut as if the visitor had no state (what a read before the first write saw): refused whole.
    const second = rollupSite('s', [{ offset: '1', event: event(t + 60_000) }], '0')!;
    const call = encodeApply(site, second, [{ field: offsetField('events', 0), expected: '0', next: '1' }], { ttlMs: TTL }, new Map());
    const run = (redis as unknown as { speedApply: (n: number, ka: string[]) => Promise<unknown> }).speedApply.bind(redis);
    expect(await run(call.keys.length, call.keys.concat(call.args))).toBe(2);
    const min2 = toMinute(t + 60_000);
    expect(await redis.hget(site.offsets, offsetField('events', 0))).toBe('0');
    expect(await redis.exists(site.counters(min2), site.visits(min2), site.sessions(min2))).toBe(0);
    expect(await redis.hget(site.visitState, 'x')).toBe(`${t}:${t}`);

    // The writer reads the state itself: the event continues the visit that started at t.
    expect(await writer.apply([{ rollup: second, expected: '0' }], pos)).toEqual([{ applied: true }]);
    expect(await redis.hget(site.visitState, 'x')).toBe(`${t}:${t + 60_000}`);
    expect(await redis.hgetall(site.visits(min2))).toEqual({ [`x@${t}`]: `${t + 60_000}:${t + 60_000}:1` });
    expect(await redis.pfcount(site.sessions(min2))).toBe(1);
    expect(await redis.pfcount(site.sessions(toMinute(t)), site.sessions(min2))).toBe(1);
  });
});
