/**
 * Visits are cut on the consumer against the visitor states it read (visit.cutter.ts); the apply
 * script checks those states again. Against the real Redis: a call cut against a state that moved
 * since writes nothing and answers 2 (offsets and counters untouched), and the writer then reads
 * the states again, cuts again and applies, continuing the visit the state holds; a visit's parts
 * of one minute from two calls are merged (the only case where the script parses a part).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, testConfig, testRedis } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EpochStore } from './epoch.store.ts';
import { encodeApply } from './apply.script.ts';
import { HASH_TABLE_AT, HASH_TABLE_FIELD, offsetField, SpeedKeys, toMinute } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { rollupSite, SiteRollupBuilder } from './rollup.aggregator.ts';
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
    const run = (redis as unknown as { speedApply: (n: number, ka: (string | Buffer)[]) => Promise<unknown> }).speedApply.bind(redis);
    expect(await run(call.keys.length, [...call.keys, ...call.args])).toBe(2);
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

  it('merges the parts of one visit in one minute written by two calls (first, last, page views)', async () => {
    const keys3 = new SpeedKeys(prefix + 'mg');
    const site3 = keys3.site('s');
    const writer3 = new RollupWriter({ redis, keys: keys3, ttlMs: TTL });
    await new EpochStore(redis, keys3).ensure('s', 0, true);
    const t = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const [proto] = generateTraffic({ seed: 5, sites: ['s'], from: t, to: t + 60_000, events: 1 });
    const event = (ms: number) => ({ ...proto!, type: 'pageview' as const, is_bot: false, visitor_id: 'y', event_time: ms });
    const pos = { topic: 'events', partition: 0 };
    const first = rollupSite('s', [{ offset: '0', event: event(t) }, { offset: '1', event: event(t + 10_000) }])!;
    expect(await writer3.apply([{ rollup: first, expected: null }], pos)).toEqual([{ applied: true }]);
    expect(await redis.hgetall(site3.visits(toMinute(t)))).toEqual({ [`y@${t}`]: `${t}:${t + 10_000}:2` });
    // The second call's part of the same visit and minute (t+20 s to t+45 s, 3 page views) is merged, not written over.
    const second = rollupSite('s', [{ offset: '2', event: event(t + 20_000) }, { offset: '3', event: event(t + 30_000) }, { offset: '4', event: event(t + 45_000) }], '1')!;
    expect(await writer3.apply([{ rollup: second, expected: '1' }], pos)).toEqual([{ applied: true }]);
    expect(await redis.hgetall(site3.visits(toMinute(t)))).toEqual({ [`y@${t}`]: `${t}:${t + 45_000}:5` });
    expect(await redis.hget(site3.visitState, 'y')).toBe(`${t}:${t + 45_000}`);
  });

  it('moves grown hashes of ids to the hash-table encoding; readers never see the field that does it', async () => {
    const keys2 = new SpeedKeys(prefix + 'ht');
    const site2 = keys2.site('s');
    const writer2 = new RollupWriter({ redis, keys: keys2, ttlMs: TTL, dedupeMs: 600_000 });
    await new EpochStore(redis, keys2).ensure('s', 0, true);
    const t = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const [proto] = generateTraffic({ seed: 4, sites: ['s'], from: t, to: t + 60_000, events: 1 });
    // 3 × HASH_TABLE_AT visitors in one minute, visitor i with 1 + i % 3 page views 10 s apart.
    const events: { offset: string; event: typeof proto & object }[] = [];
    const visitors = 3 * HASH_TABLE_AT;
    for (let i = 0; i < visitors; i++)
      for (let k = 0; k <= i % 3; k++) events.push({ offset: String(events.length), event: { ...proto!, event_id: crypto.randomUUID(), type: 'pageview', is_bot: false, visitor_id: `v${i}`, event_time: t + k * 10_000 } });
    const half = Math.floor(events.length / 2);
    const pos = { topic: 'events', partition: 0 };
    // Built with the dedupe on, as the consumer does with SPEED_DEDUPE_WINDOW: the counted ids are kept too.
    const rollup = (part: typeof events, applied: string | null) => {
      const b = new SiteRollupBuilder('s', applied, { tag: 'events:0' });
      for (const { offset, event } of part) b.add(offset, event);
      return b.result()!;
    };
    expect(await writer2.apply([{ rollup: rollup(events.slice(0, half), null), expected: null }], pos)).toEqual([{ applied: true }]);
    expect(await writer2.apply([{ rollup: rollup(events.slice(half), String(half - 1)), expected: String(half - 1) }], pos)).toEqual([{ applied: true }]);
    const min = toMinute(t);
    for (const key of [site2.eventIds(min), site2.visits(min), site2.visitState]) {
      expect(await redis.object('ENCODING', key), key).toBe('hashtable');
      expect(await redis.hexists(key, HASH_TABLE_FIELD), key).toBe(1);
    }
    // A small hash stays a listpack.
    expect(await redis.object('ENCODING', keys.site('s').visits(toMinute(t)))).toBe('listpack');
    const parts = await new SpeedReader({ redis, keys: keys2, ttlMs: TTL }).visitParts('s', t, t + 60_000, t);
    expect(parts.size).toBe(visitors);
    for (let i = 0; i < visitors; i++) expect(parts.get(`v${i}@${t}`), `v${i}`).toEqual({ first: t, last: t + (i % 3) * 10_000, pageviews: 1 + (i % 3) });
  });
});
