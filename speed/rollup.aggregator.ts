/**
 * Folds one site's events of a batch into per-minute sums and sets in memory, so a batch of
 * thousands of events becomes a few hundred Redis operations (pre-aggregation is what lets
 * the speed layer outrun per-event commands by an order of magnitude, see MEASURED.md).
 */
import type { RollupEvent } from './event.decoder.ts';
import { AGG, HLL_DIMS, HLL_DIM_INDEX, KIND, NONE, SEP, toMinute } from './redis.keys.ts';
import type { MinuteRollup, OffsetEvent, SiteRollup } from './types.ts';

function emptyMinute(minute: number): MinuteRollup {
  return { minute, counters: new Map(), visitors: new Set(), sessions: new Set(), dimVisitors: new Map(), pages: new Map(), referrers: new Map() };
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** Dimension values of the tuple, a missing one as NONE. */
export function tupleValues(e: RollupEvent): string[] {
  return [e.country ?? NONE, e.device_type || NONE, e.browser ?? NONE, e.os ?? NONE, e.utm_source ?? NONE];
}

/** `SEP + name + SEP + values` of tupleField, built once per event (the kind goes in front). */
function tupleTail(e: RollupEvent, values: readonly string[]): string {
  return SEP + e.name + SEP + values[0] + SEP + values[1] + SEP + values[2] + SEP + values[3] + SEP + values[4];
}

/** Whether Kafka offset `a` is above `b` (offsets are decimal strings of int64). */
export function offsetAbove(a: string, b: string | null): boolean {
  if (b === null) return true;
  return a.length !== b.length ? a.length > b.length : a > b;
}

function foldHuman(m: MinuteRollup, e: RollupEvent, values: string[]): void {
  m.visitors.add(e.visitor_id);
  m.sessions.add(e.session_id);
  for (let j = 0; j < HLL_DIMS.length; j++) {
    const dv = HLL_DIMS[j] + ':' + values[HLL_DIM_INDEX[j]!];
    let set = m.dimVisitors.get(dv);
    if (!set) m.dimVisitors.set(dv, (set = new Set()));
    set.add(e.visitor_id);
  }
  const tail = tupleTail(e, values);
  if (e.type === 'pageview') {
    add(m.counters, AGG.pageviews, 1);
    add(m.counters, KIND.pageview + tail, 1);
    add(m.pages, e.path, 1);
    if (e.referrer_host) add(m.referrers, e.referrer_host, 1);
  } else if (e.type === 'custom') {
    add(m.counters, AGG.events, 1);
    add(m.counters, KIND.custom + tail, 1);
  } else {
    const revenue = e.revenue_micros ?? 0;
    add(m.counters, AGG.purchases, 1);
    add(m.counters, AGG.revenue, revenue);
    add(m.counters, KIND.purchase + tail, 1);
    add(m.counters, KIND.revenue + tail, revenue);
  }
}

function foldBot(m: MinuteRollup, e: RollupEvent, values: string[]): void {
  const tail = tupleTail(e, values);
  if (e.type === 'pageview') {
    add(m.counters, AGG.botPageviews, 1);
    add(m.counters, KIND.botPageview + tail, 1);
  } else {
    add(m.counters, AGG.botEvents, 1);
    add(m.counters, KIND.botOther + tail, 1);
  }
}

/**
 * Rolls up the events of one site whose offset is above `appliedOffset` (the ones at or
 * below it were applied before a crash or by another instance). Returns null when none is left.
 */
export function rollupSite(site: string, events: readonly OffsetEvent[], appliedOffset: string | null = null): SiteRollup | null {
  const minutes = new Map<number, MinuteRollup>();
  let last: MinuteRollup | undefined;
  let maxOffset: string | null = null;
  let count = 0;
  for (const { offset, event } of events) {
    if (!offsetAbove(offset, appliedOffset)) continue;
    const minute = toMinute(event.event_time);
    let m = last !== undefined && last.minute === minute ? last : minutes.get(minute);
    if (!m) minutes.set(minute, (m = emptyMinute(minute)));
    last = m;
    const values = tupleValues(event);
    if (event.is_bot) foldBot(m, event, values);
    else foldHuman(m, event, values);
    if (offsetAbove(offset, maxOffset)) maxOffset = offset;
    count++;
  }
  return maxOffset === null ? null : { site, minutes, events: count, maxOffset };
}
