/**
 * Contract 9's visits, cut on the consumer instead of in the apply script: per human visitor, its
 * event times (ascending) continue the visit its state in Redis holds (`start:last` in the `vs`
 * hash) while the gap since the last event is at most the idle timeout, and otherwise start a new
 * one. Each event's visit id (`visitor@start-ms`, as core/sessions.ts and the batch job name it)
 * goes into the session sketches of its minute, hour and day, and each visit's first and last
 * event and page views of a minute into that minute's visit hash.
 *
 * The Lua version of this walked every event inside Redis (a 9-field tuple per event decoded from
 * JSON, four table lookups per event): about half of Redis' CPU per event. Here Redis gets what
 * to write: the visitors' new states, the ids per sketch and the merged visit parts. The states it
 * was cut against travel too, and the script writes nothing when one of them moved since the
 * read (apply.script.ts), so the outcome is the one of cutting inside the script.
 *
 * An event older than the visitor's last applied one (out of order across batches) is counted in
 * the visit current at that point: exact for in-order traffic and for events reordered within one
 * batch, approximate otherwise (a visit may be merged with an earlier one, never split); batch
 * replaces it exactly at W.
 */
import { visitId } from '../core/sessions.ts';
import { DAY_MINUTES, expireAtOf, HOUR_MINUTES, toMinute, type SiteKeys } from './redis.keys.ts';

/** Visit ids that go into one session sketch, and when the sketch expires (epoch ms). */
export interface SketchIds {
  key: string;
  expireAt: number;
  ids: Set<string>;
}

/** One minute's visit hash: visit id → [first event ms, last event ms, page views] of that minute. */
export interface VisitParts {
  key: string;
  expireAt: number;
  visits: Map<string, [number, number, number]>;
}

/** What one site's visits of a rollup write (apply.script.ts ARGV[5]). */
export interface VisitPlan {
  /** Flat [visitor, state cut against ('' = none), new state, ...]. */
  states: string[];
  sketches: SketchIds[];
  parts: VisitParts[];
}

const STATE = /^(\d+):(\d+)$/;

/**
 * Cuts `visits` (visitor → `event ms × 2 + 1 if a page view`, ascending) into visits against each
 * visitor's `prior` state (absent or null: none).
 */
export function cutVisits(keys: SiteKeys, visits: ReadonlyMap<string, readonly number[]>, prior: ReadonlyMap<string, string | null>, idleMs: number, ttlMs: number): VisitPlan {
  const states: string[] = [];
  const minutes = new Map<number, SketchIds>();
  const hours = new Map<number, SketchIds>();
  const days = new Map<number, SketchIds>();
  const parts = new Map<number, VisitParts>();
  const sketch = (map: Map<number, SketchIds>, n: number, key: () => string, lastMinute: number): SketchIds => {
    let s = map.get(n);
    if (!s) map.set(n, (s = { key: key(), expireAt: expireAtOf(lastMinute, ttlMs), ids: new Set() }));
    return s;
  };
  for (const [visitor, marks] of visits) {
    const st = prior.get(visitor) ?? null;
    let start = -1;
    let last = -1;
    let id = '';
    const m = st === null ? null : STATE.exec(st);
    if (m) {
      start = Number(m[1]);
      last = Number(m[2]);
      id = visitId(visitor, start);
    }
    for (const mark of marks) {
      const t = Math.floor(mark / 2);
      if (start < 0 || t - last > idleMs) {
        start = last = t;
        id = visitId(visitor, t);
      } else if (t > last) last = t;
      const min = toMinute(t);
      const hour = Math.floor(min / HOUR_MINUTES);
      const day = Math.floor(min / DAY_MINUTES);
      sketch(minutes, min, () => keys.sessions(min), min).ids.add(id);
      sketch(hours, hour, () => keys.sessionsHour(hour), hour * HOUR_MINUTES + HOUR_MINUTES - 1).ids.add(id);
      sketch(days, day, () => keys.sessionsDay(day), day * DAY_MINUTES + DAY_MINUTES - 1).ids.add(id);
      let vp = parts.get(min);
      if (!vp) parts.set(min, (vp = { key: keys.visits(min), expireAt: expireAtOf(min, ttlMs), visits: new Map() }));
      const p = vp.visits.get(id);
      if (p === undefined) vp.visits.set(id, [t, t, mark % 2]);
      else {
        if (t < p[0]) p[0] = t;
        if (t > p[1]) p[1] = t;
        p[2] += mark % 2;
      }
    }
    states.push(visitor, st ?? '', `${start}:${last}`);
  }
  return { states, sketches: [...minutes.values(), ...hours.values(), ...days.values()], parts: [...parts.values()] };
}
