/**
 * Visits cut on the consumer, batch after batch against the state the previous batches left,
 * name the same visits as core/sessions.ts over all events at once, in every sketch and visit hash.
 */
import { describe, expect, it } from 'vitest';
import { assignVisits } from '../core/sessions.ts';
import { SpeedKeys, toMinute, HOUR_MINUTES, DAY_MINUTES } from './redis.keys.ts';
import { cutVisits, type VisitPlan } from './visit.cutter.ts';

const IDLE = 30 * 60_000;
const keys = new SpeedKeys('t').site('s');

interface Ev {
  site_id: string;
  visitor_id: string;
  is_bot: boolean;
  event_time: number;
  pageview: boolean;
}

/** Deterministic events of 12 visitors over 3 days, with idle gaps around the 30-minute rule. */
function events(): Ev[] {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const out: Ev[] = [];
  const t0 = Date.UTC(2026, 2, 13, 22);
  for (let v = 0; v < 12; v++) {
    let t = t0 + Math.floor(rnd() * 3_600_000);
    for (let i = 0; i < 60; i++) {
      out.push({ site_id: 's', visitor_id: `v${v}`, is_bot: false, event_time: t, pageview: rnd() < 0.7 });
      const gap = rnd();
      t += gap < 0.6 ? Math.floor(rnd() * 120_000) : gap < 0.8 ? IDLE - 1_000 + Math.floor(rnd() * 2_000) : IDLE * 3;
    }
  }
  return out.sort((a, b) => a.event_time - b.event_time);
}

describe('visits cut on the consumer', () => {
  it('names the visits of core/sessions.ts in every minute, hour and day sketch and visit hash, across batches', () => {
    const all = events();
    const truth = assignVisits(all, IDLE);
    const state = new Map<string, string | null>();
    const sketches = new Map<string, Set<string>>();
    const parts = new Map<string, Map<string, [number, number, number]>>();
    const absorb = (plan: VisitPlan) => {
      for (let j = 0; j < plan.states.length; j += 3) state.set(plan.states[j]!, plan.states[j + 2]!);
      for (const sk of plan.sketches) {
        let set = sketches.get(sk.key);
        if (!set) sketches.set(sk.key, (set = new Set()));
        for (const id of sk.ids) set.add(id);
      }
      for (const vp of plan.parts) {
        let map = parts.get(vp.key);
        if (!map) parts.set(vp.key, (map = new Map()));
        for (const [id, [f, l, n]] of vp.visits) {
          const p = map.get(id);
          map.set(id, p ? [Math.min(p[0], f), Math.max(p[1], l), p[2] + n] : [f, l, n]);
        }
      }
    };
    // Batches of uneven sizes, each cut against the states the earlier ones left (as Redis holds them).
    for (let i = 0, size = 1; i < all.length; i += size, size = (size * 7) % 97 + 1) {
      const visits = new Map<string, number[]>();
      for (const e of all.slice(i, i + size)) {
        const list = visits.get(e.visitor_id) ?? [];
        list.push(e.event_time * 2 + (e.pageview ? 1 : 0));
        visits.set(e.visitor_id, list);
      }
      const plan = cutVisits(keys, visits, state, IDLE, 3_600_000);
      for (let j = 0; j < plan.states.length; j += 3) expect(plan.states[j + 1]).toBe(state.get(plan.states[j]!) ?? '');
      absorb(plan);
    }
    const want = new Map<string, Set<string>>();
    const wantParts = new Map<string, Map<string, [number, number, number]>>();
    for (const e of all) {
      const id = truth.get(e)!;
      const min = toMinute(e.event_time);
      for (const key of [keys.sessions(min), keys.sessionsHour(Math.floor(min / HOUR_MINUTES)), keys.sessionsDay(Math.floor(min / DAY_MINUTES))]) {
        if (!want.has(key)) want.set(key, new Set());
        want.get(key)!.add(id);
      }
      const vk = keys.visits(min);
      if (!wantParts.has(vk)) wantParts.set(vk, new Map());
      const p = wantParts.get(vk)!.get(id);
      const pv = e.pageview ? 1 : 0;
      wantParts.get(vk)!.set(id, p ? [Math.min(p[0], e.event_time), Math.max(p[1], e.event_time), p[2] + pv] : [e.event_time, e.event_time, pv]);
    }
    expect(want.size).toBeGreaterThan(100);
    for (const [key, ids] of want) expect([...(sketches.get(key) ?? [])].sort(), key).toEqual([...ids].sort());
    expect(sketches.size).toBe(want.size);
    for (const [key, visits] of wantParts) expect(parts.get(key), key).toEqual(visits);
    expect(parts.size).toBe(wantParts.size);
  });

  it('continues the visit a state holds, and starts a new one after the idle timeout or from a state it cannot read', () => {
    const t = Date.UTC(2026, 2, 14, 10);
    const plan = cutVisits(keys, new Map([['a', [t * 2 + 1]], ['b', [t * 2]], ['c', [t * 2 + 1]]]), new Map([['a', `${t - IDLE}:${t - 60_000}`], ['b', `${t - 2 * IDLE}:${t - IDLE - 1}`], ['c', 'garbled']]), IDLE, 60_000);
    expect(plan.states).toEqual(['a', `${t - IDLE}:${t - 60_000}`, `${t - IDLE}:${t}`, 'b', `${t - 2 * IDLE}:${t - IDLE - 1}`, `${t}:${t}`, 'c', 'garbled', `${t}:${t}`]);
    expect([...plan.sketches[0]!.ids]).toEqual([`a@${t - IDLE}`, `b@${t}`, `c@${t}`]);
    expect(plan.parts[0]!.visits.get(`a@${t - IDLE}`)).toEqual([t, t, 1]);
  });
});
