/**
 * How one site's rollup of the partition batches of one round reaches Redis (contract 6): one
 * script call per site, in two sections.
 *
 * 1. Idempotent, always run: PFADD of visitor ids (re-adding an id leaves a HyperLogLog
 *    unchanged), SADD of the per-value sketch index, ZADD of the minute index, each key's expiry.
 *    Running them even when the compare-and-set below loses keeps every key under a TTL.
 * 2. The compare-and-set for what is not idempotent: HINCRBY of counters and ZINCRBY of top
 *    pages/referrers, applied iff the offset record of every partition the rollup holds events of
 *    still holds what the caller rolled up against, with the new offsets recorded in the same
 *    atomic step. Several partitions in one call is what lets the consumer fold the batches of
 *    one fetch together (half the counter and top-k updates).
 *    Sessions are part of it (contract 9, the server's visits): per human visitor, its event times
 *    (ascending) continue the visit kept in the `vs` hash (`start:last`) while the gap since the
 *    last event is at most the idle timeout, and otherwise start a new one; each event's visit id
 *    (`visitor@start-ms`, as core/sessions.ts and the batch job name it) goes into the session
 *    sketch of its minute. An event older than the visitor's last applied one (out of order across
 *    batches) is counted in the visit current at that point: exact for in-order traffic and for
 *    events reordered within one batch, approximate otherwise (a visit may be merged with an earlier
 *    one, never split); batch replaces it exactly at W.
 * Each section's items travel as one JSON argument (cjson.decode in Redis), not one argument
 * per id or field: the client then spends its time on one native JSON.stringify per site
 * instead of building thousands of RESP arguments (that was the consumer's largest cost).
 * All keys are one site's (one `{site}` hash tag): valid on Redis Cluster.
 *
 * KEYS: 1 offset record, 2 the site's epoch, 3.. data keys.
 * ARGV: 1 JSON [[offset field, expected offset ('' = none), new offset], ...], 2 TTL ms,
 *       3 JSON [[key index, type, expire-at ms ('0' = PEXPIRE TTL), [ids...]], ...] (p = PFADD,
 *         s = SADD, i = ZADD score=member=minute),
 *       4 JSON [[key index, type, expire-at ms, [field, delta, ...]], ...] (h = HINCRBY, z = ZINCRBY,
 *         e = HSET of event id → `partition:offset`: the ids counted, for the dedupe of client retries),
 *       5 JSON [state key index, idle ms, [[visitor, [[event ms, session-sketch key index, expire-at ms,
 *         visit-hash key index, 1 if a page view, hour session-sketch key index, its expire-at ms, day
 *         session-sketch key index, its expire-at ms], ...]], ...]]: each visit's first and last event and
 *         page views per minute are merged into the minute's visit hash (`first:last:pageviews`),
 *       6 the most members a counter hash or a page/referrer set of one minute gets (beyond it, new
 *         ones count under `(other)`: what any client sends keeps Redis bounded per site and minute),
 *       7 the epoch id the writer expects ('' = not checked: tests that write a store directly),
 *       8 JSON [index key index, [day, ...]]: the UTC days this call writes; the unions of day sketches
 *         holding one of them are deleted ('' = none).
 *       Invalidation runs with the idempotent section: a union made before a losing call re-runs
 *       is deleted again by the call that wins.
 * Returns 1, or (nothing written but the idempotent section) the current offsets in ARGV[1] order.
 */
import type { SiteKeys } from './redis.keys.ts';
import { DAY_MINUTES, HOUR_MINUTES, MINUTE_MS, toMinute } from './redis.keys.ts';
import { DEFAULT_SESSION_IDLE_MS } from '../core/sessions.ts';
import type { SiteRollup } from './types.ts';

export const APPLY_LUA = `
local ttl = ARGV[2]
-- A write lands only in the epoch its writer expects (speed/epoch.store.ts): after a flush the
-- epoch is gone, and nothing is written until the writer has seen the new one begin. The answer
-- is the one of a stale record: the caller reads the records and the epoch again.
if ARGV[7] ~= '' and redis.call('HGET', KEYS[2], 'id') ~= ARGV[7] then
  local cur = {}
  for i, o in ipairs(cjson.decode(ARGV[1])) do cur[i] = redis.call('HGET', KEYS[1], o[1]) or '' end
  return cur
end
local function expire(key, at)
  if at == '0' then redis.call('PEXPIRE', key, ttl) else redis.call('PEXPIREAT', key, at) end
end
-- Redis commands over long argument lists in slices (Lua's unpack has a stack limit).
local function sliced(cmd, key, list, step, fn)
  local n, j = #list, 1
  while j <= n do
    local k = math.min(n, j + step - 1)
    local r = redis.call(cmd, key, unpack(list, j, k))
    if fn then fn(j, r) end
    j = k + 1
  end
end
for _, op in ipairs(cjson.decode(ARGV[3])) do
  local key, kind, items = KEYS[op[1]], op[2], op[4]
  local n = #items
  local cmd = (kind == 'p') and 'PFADD' or ((kind == 's') and 'SADD' or 'ZADD')
  if kind == 'i' then
    for j = 1, n do redis.call('ZADD', key, items[j], items[j]) end
  else
    local j = 1
    while j <= n do
      local k = math.min(n, j + 3999)
      redis.call(cmd, key, unpack(items, j, k))
      j = k + 1
    end
  end
  expire(key, op[3])
end
-- A union of day sketches (redis.keys.ts daysUnion) that holds a day written here is out of date:
-- deleted, so the next reader makes it again. Its keys share this site's slot (the {site} tag).
if ARGV[8] ~= nil and ARGV[8] ~= '' then
  local inv = cjson.decode(ARGV[8])
  local idx = KEYS[inv[1]]
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local a, b = string.match(m, ':(%d+):(%d+)$')
    a, b = tonumber(a), tonumber(b)
    for _, d in ipairs(inv[2]) do
      if d >= a and d < b then
        redis.call('UNLINK', m)
        redis.call('SREM', idx, m)
        break
      end
    end
  end
end
local offsets = cjson.decode(ARGV[1])
local cur, stale = {}, false
for i, o in ipairs(offsets) do
  cur[i] = redis.call('HGET', KEYS[1], o[1]) or ''
  if cur[i] ~= o[2] then stale = true end
end
if stale then return cur end
-- Members per key are capped: a new member past the cap counts under '(other)' (a tuple with
-- every part '(other)'); aggregate counter fields are always written, so totals stay exact.
-- Increments are positive, so an increment that returns its own delta made a new member: the
-- size is tracked without a call, and the member is looked up first only once the key is full.
-- (Deltas go to Redis as the caller's text: a Lua number prints large values as 1e+15.)
local cap = tonumber(ARGV[6])
local function otherTuple(f)
  local parts = select(2, string.gsub(f, '\\31', ''))
  return string.sub(f, 1, 1) .. string.rep('\\31(other)', parts)
end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  local key, items = KEYS[op[1]], op[4]
  if op[2] == 'e' then
    sliced('HSET', key, items, 4000)
  elseif op[2] == 'h' then
    local n = redis.call('HLEN', key)
    for j = 1, #items, 2 do
      local f, d = items[j], tonumber(items[j + 1])
      if n >= cap and string.byte(f, 2) == 31 and redis.call('HEXISTS', key, f) == 0 then f = otherTuple(f) end
      if redis.call('HINCRBY', key, f, items[j + 1]) == d then n = n + 1 end
    end
  else
    local n = redis.call('ZCARD', key)
    for j = 1, #items, 2 do
      local m, d = items[j], tonumber(items[j + 1])
      if n >= cap and not redis.call('ZSCORE', key, m) then m = '(other)' end
      if tonumber(redis.call('ZINCRBY', key, items[j + 1], m)) == d then n = n + 1 end
    end
  end
  expire(key, op[3])
end
-- The entry of key index k in tbl (its ids in first-seen order, at: its expiry), made on first use; order keeps the keys in that order.
local function group(tbl, order, k, at)
  local g = tbl[k]
  if g == nil then
    g = { byId = {}, ids = {}, at = at }
    tbl[k] = g
    order[#order + 1] = k
  end
  return g
end
local sv = cjson.decode(ARGV[5])
if #sv[3] > 0 then
  local state, idle = KEYS[sv[1]], tonumber(sv[2])
  -- Reads and writes go per key with every field at once (HMGET/HSET/PFADD), not per event.
  local visitors, prior = {}, {}
  for i, v in ipairs(sv[3]) do visitors[i] = v[1] end
  sliced('HMGET', state, visitors, 4000, function(j, r) for i = 1, #r do prior[j + i - 1] = r[i] end end)
  local parts, partKeys = {}, {}
  local sketches, sketchOrder = {}, {}
  local newState = {}
  for vi, v in ipairs(sv[3]) do
    local visitor = v[1]
    local start, last, id = nil, nil, nil
    local st = prior[vi]
    if st then
      local a, b = string.match(st, '^(%d+):(%d+)$')
      start, last = tonumber(a), tonumber(b)
      id = visitor .. '@' .. a
    end
    for _, ev in ipairs(v[2]) do
      local t = ev[1]
      if start == nil or t - last > idle then
        start, last = t, t
        id = visitor .. '@' .. string.format('%.0f', start)
      elseif t > last then last = t end
      -- The minute's session sketch (ev[2], ev[3]), then the hour's (ev[6], ev[7]) and the day's (ev[8], ev[9]).
      for s = 0, 2 do
        local ki, at = ev[2], ev[3]
        if s > 0 then ki, at = ev[4 + 2 * s], ev[5 + 2 * s] end
        local sk = group(sketches, sketchOrder, ki, at)
        if not sk.byId[id] then
          sk.byId[id] = true
          sk.ids[#sk.ids + 1] = id
        end
      end
      local vk = group(parts, partKeys, ev[4], ev[3])
      local p = vk.byId[id]
      if p == nil then
        vk.byId[id] = { t, t, ev[5] }
        vk.ids[#vk.ids + 1] = id
      else
        if t < p[1] then p[1] = t end
        if t > p[2] then p[2] = t end
        p[3] = p[3] + ev[5]
      end
    end
    newState[#newState + 1] = visitor
    newState[#newState + 1] = string.format('%.0f', start) .. ':' .. string.format('%.0f', last)
  end
  sliced('HSET', state, newState, 4000)
  redis.call('PEXPIRE', state, ttl)
  for _, ki in ipairs(sketchOrder) do
    local sk = sketches[ki]
    sliced('PFADD', KEYS[ki], sk.ids, 4000)
    expire(KEYS[ki], sk.at)
  end
  for _, ki in ipairs(partKeys) do
    local vk, key = parts[ki], KEYS[ki]
    local out = {}
    sliced('HMGET', key, vk.ids, 4000, function(j, r)
      for i = 1, #r do
        local id = vk.ids[j + i - 1]
        local p = vk.byId[id]
        if r[i] then
          local f, l, n = string.match(r[i], '^(%d+):(%d+):(%d+)$')
          f, l, n = tonumber(f), tonumber(l), tonumber(n)
          if f < p[1] then p[1] = f end
          if l > p[2] then p[2] = l end
          p[3] = p[3] + n
        end
        out[#out + 1] = id
        out[#out + 1] = string.format('%.0f', p[1]) .. ':' .. string.format('%.0f', p[2]) .. ':' .. string.format('%.0f', p[3])
      end
    end)
    sliced('HSET', key, out, 4000)
    expire(key, vk.at)
  end
end
for _, o in ipairs(offsets) do redis.call('HSET', KEYS[1], o[1], o[3]) end
-- The record never expires (an eviction policy acting on expiring keys would take it, and the
-- next replay would count its events again); PERSIST clears the TTL earlier versions gave it.
redis.call('PERSIST', KEYS[1])
return 1
`;

/** Members per counter hash, page and referrer set of one site and minute (SPEED_MAX_MEMBERS). */
export const DEFAULT_MAX_MEMBERS = 1000;

/** The member that counts what arrives past the cap (page, referrer, or every part of a tuple). */
export const OTHER_MEMBER = '(other)';

export interface ApplyCall {
  keys: string[];
  args: string[];
}

/** Minute keys expire TTL after the minute ends (event time), so coverage is exact. */
export function expireAtOf(minute: number, ttlMs: number): number {
  return (minute + 1) * MINUTE_MS + ttlMs;
}

type Op = [keyIndex: number, kind: string, expireAt: string, items: readonly string[]];

/** What an hour or day key gets of its minutes: the aggregate counter fields and the visitor ids. */
interface Coarse {
  counters: Map<string, number>;
  visitors: Set<string>;
}

function coarse(): Coarse {
  return { counters: new Map(), visitors: new Set() };
}

/** Adds a minute's aggregate fields (not its dimension tuples) and visitor ids to an hour's or day's. */
function fold(into: Coarse, counters: ReadonlyMap<string, number>, visitors: readonly string[]): void {
  for (const [f, v] of counters) {
    // Tuple fields have the separator second (redis.keys.ts tupleField); aggregates never do.
    if (f.length > 1 && f.charCodeAt(1) === 31) continue;
    into.counters.set(f, (into.counters.get(f) ?? 0) + v);
  }
  for (const id of visitors) into.visitors.add(id);
}

function pairs(map: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of map) if (v !== 0) out.push(k, String(v));
  return out;
}

/** One partition's offset record in an apply call: it must hold `expected`, and gets `next`. */
export interface OffsetUpdate {
  field: string;
  expected: string | null;
  next: string;
}

/** Builds KEYS and ARGV for APPLY_LUA from a rollup holding events of the partitions in `offsets`. */
export function encodeApply(keys: SiteKeys, rollup: SiteRollup, offsets: readonly OffsetUpdate[], ttlMs: number, sessionIdleMs = DEFAULT_SESSION_IDLE_MS, maxMembers = DEFAULT_MAX_MEMBERS, epoch = '', dedupeMs = 0, now = Date.now()): ApplyCall {
  const keyList = [keys.offsets, keys.epoch];
  const once: Op[] = [];
  const cas: Op[] = [];
  const op = (list: Op[], key: string, kind: string, expireAt: number, items: readonly string[]): void => {
    if (items.length > 0) list.push([keyList.push(key), kind, String(expireAt), items]);
  };
  const minutes: string[] = [];
  const hours = new Map<number, Coarse & { pages: Map<string, number>; referrers: Map<string, number> }>();
  const days = new Map<number, Coarse>();
  const sessionKeys = new Map<number, number>();
  const visitKeys = new Map<number, number>();
  for (const m of rollup.minutes.values()) {
    const min = m.minute;
    const exp = expireAtOf(min, ttlMs);
    minutes.push(String(min));
    op(once, keys.visitors(min), 'p', exp, m.visitors);
    if (m.visitors.length > 0) {
      sessionKeys.set(min, keyList.push(keys.sessions(min)));
      visitKeys.set(min, keyList.push(keys.visits(min)));
    }
    if (m.dimVisitors.size > 0) {
      op(once, keys.dimIndex(min), 's', exp, [...m.dimVisitors.keys()]);
      for (const [dv, ids] of m.dimVisitors) op(once, keys.dimVisitors(min, dv), 'p', exp, ids);
    }
    op(cas, keys.counters(min), 'h', exp, pairs(m.counters));
    op(cas, keys.pages(min), 'z', exp, pairs(m.pages));
    op(cas, keys.referrers(min), 'z', exp, pairs(m.referrers));
    // Counted ids, kept the dedupe window from now (a retry comes within it) and never past the minute's own keys.
    if (dedupeMs > 0 && m.ids) {
      const counted: string[] = [];
      for (const [id, at] of m.ids) counted.push(id, at);
      op(cas, keys.eventIds(min), 'e', Math.min(now + dedupeMs, exp), counted);
    }
    const hour = Math.floor(min / HOUR_MINUTES);
    let h = hours.get(hour);
    if (!h) hours.set(hour, (h = { ...coarse(), pages: new Map(), referrers: new Map() }));
    for (const [k, v] of m.pages) h.pages.set(k, (h.pages.get(k) ?? 0) + v);
    for (const [k, v] of m.referrers) h.referrers.set(k, (h.referrers.get(k) ?? 0) + v);
    const day = Math.floor(min / DAY_MINUTES);
    let d = days.get(day);
    if (!d) days.set(day, (d = coarse()));
    fold(h, m.counters, m.visitors);
    fold(d, m.counters, m.visitors);
  }
  // Per hour and day too: long breakdowns union hours (at most 48 in 2 days) instead of minutes,
  // and unfiltered totals and series read a day's or an hour's key instead of its minutes.
  const hourKeys = new Map<number, { sessions: number; exp: number }>();
  for (const [hour, h] of hours) {
    const exp = expireAtOf(hour * HOUR_MINUTES + HOUR_MINUTES - 1, ttlMs);
    op(cas, keys.pagesHour(hour), 'z', exp, pairs(h.pages));
    op(cas, keys.referrersHour(hour), 'z', exp, pairs(h.referrers));
    op(cas, keys.countersHour(hour), 'h', exp, pairs(h.counters));
    op(once, keys.visitorsHour(hour), 'p', exp, [...h.visitors]);
    if (h.visitors.size > 0) hourKeys.set(hour, { sessions: keyList.push(keys.sessionsHour(hour)), exp });
  }
  const dayKeys = new Map<number, { sessions: number; exp: number }>();
  for (const [day, d] of days) {
    const exp = expireAtOf(day * DAY_MINUTES + DAY_MINUTES - 1, ttlMs);
    op(cas, keys.countersDay(day), 'h', exp, pairs(d.counters));
    op(once, keys.visitorsDay(day), 'p', exp, [...d.visitors]);
    if (d.visitors.size > 0) dayKeys.set(day, { sessions: keyList.push(keys.sessionsDay(day)), exp });
  }
  if (minutes.length > 0) once.push([keyList.push(keys.index), 'i', '0', minutes]);
  const visits: [string, [number, number, string, number, number, number, string, number, string][]][] = [];
  for (const [visitor, marks] of rollup.visits) {
    visits.push([
      visitor,
      marks.map((mark) => {
        const t = Math.floor(mark / 2);
        const min = toMinute(t);
        const h = hourKeys.get(Math.floor(min / HOUR_MINUTES))!;
        const d = dayKeys.get(Math.floor(min / DAY_MINUTES))!;
        return [t, sessionKeys.get(min)!, String(expireAtOf(min, ttlMs)), visitKeys.get(min)!, mark % 2, h.sessions, String(h.exp), d.sessions, String(d.exp)];
      }),
    ]);
  }
  const state = visits.length > 0 ? keyList.push(keys.visitState) : 0;
  const records = JSON.stringify(offsets.map((o) => [o.field, o.expected ?? '', o.next]));
  const unions = days.size > 0 ? JSON.stringify([keyList.push(keys.daysUnions), [...days.keys()]]) : '';
  return { keys: keyList, args: [records, String(ttlMs), JSON.stringify(once), JSON.stringify(cas), JSON.stringify([state, sessionIdleMs, visits]), String(maxMembers), epoch, unions] };
}
