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
 *    Visits are part of it (contract 9, the server's visits), cut by the consumer
 *    (visit.cutter.ts) against the visitor states it read: the script writes nothing when a state
 *    moved since (another writer of the visitor: the epoch rebuild, say) and answers 2, and the
 *    caller reads the states and cuts again.
 * Each section's items travel as one MessagePack argument (cmsgpack.unpack in Redis), not one
 * argument per id or field: the client then packs one buffer per section instead of building
 * thousands of RESP arguments (that was the consumer's largest cost). MessagePack rather than
 * JSON: tuple fields hold the 0x1f separator, six bytes in JSON ("\u001f") and one here; on the
 * bench's calls msgpackr packs in about half the time of JSON.stringify and its UTF-8 copy, the
 * arguments are a quarter smaller, and cmsgpack unpacks them about a fifth faster than cjson.
 * All keys are one site's (one `{site}` hash tag): valid on Redis Cluster.
 *
 * KEYS: 1 offset record, 2 the site's epoch, 3.. data keys.
 * ARGV: 1 [[offset field, expected offset ('' = none), new offset], ...], 2 TTL ms,
 *       3 [[key index, type, expire-at ms ('0' = PEXPIRE TTL), [ids...]], ...] (p = PFADD,
 *         s = SADD, i = ZADD score=member=minute),
 *       4 [[key index, type, expire-at ms, [field, delta, ...]], ...] (h = HINCRBY, z = ZINCRBY,
 *         e = HSET of event id → `partition:offset`: the ids counted, for the dedupe of client retries),
 *       5 [state key index (0 = no visits), [visitor, state cut against ('' = none), new state, ...],
 *         [[session-sketch key index, expire-at ms, [visit id, ...]], ...],
 *         [[visit-hash key index, expire-at ms, [visit id, redis.keys.ts visitPart, ...]], ...]]:
 *         each visit's part is merged into the minute's visit hash (the same text; the script
 *         parses and formats numbers only for a visit the hash holds already),
 *       6 the most members a counter hash or a page/referrer set of one minute gets (beyond it, new
 *         ones count under `(other)`: what any client sends keeps Redis bounded per site and minute),
 *       7 the epoch id the writer expects ('' = not checked: tests that write a store directly),
 *       8 [index key index, [day, ...]]: the UTC days this call writes; the unions of day sketches
 *         holding one of them are deleted ('' = none).
 *       Invalidation runs with the idempotent section: a union made before a losing call re-runs
 *       is deleted again by the call that wins.
 * Returns 1; or (nothing written but the idempotent section) the current offsets in ARGV[1] order,
 * or 2 when the offsets held but a visitor's state moved; or 3 (nothing written at all) when an
 * event id of an `e` op was counted by another record (a client's retry of it).
 */
import { Packr } from 'msgpackr';
import type { PropKind, SiteKeys } from './redis.keys.ts';
import { DAY_MINUTES, expireAtOf, HASH_TABLE_AT, HASH_TABLE_FIELD, HASH_TABLE_VALUE, HOUR_MINUTES, visitPart } from './redis.keys.ts';
import { cutVisits } from './visit.cutter.ts';
import { addNested } from './rollup.aggregator.ts';
import { DEFAULT_SESSION_IDLE_MS } from '../core/sessions.ts';
import { OTHER_VALUE } from '../core/views.ts';
import type { SiteRollup } from './types.ts';

export const APPLY_LUA = `
local ttl = ARGV[2]
-- A write lands only in the epoch its writer expects (speed/epoch.store.ts): after a flush the
-- epoch is gone, and nothing is written until the writer has seen the new one begin. The answer
-- is the one of a stale record: the caller reads the records and the epoch again.
if ARGV[7] ~= '' and redis.call('HGET', KEYS[2], 'id') ~= ARGV[7] then
  local cur = {}
  for i, o in ipairs(cmsgpack.unpack(ARGV[1])) do cur[i] = redis.call('HGET', KEYS[1], o[1]) or '' end
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
-- A hash of ids (event ids, visitors, visits) that has grown past HASH_TABLE_AT fields is moved to
-- Redis' hash-table encoding by one field whose value is longer than hash-max-listpack-value
-- (64 by default): in a listpack, every HSET and HMGET field is a linear scan of up to
-- hash-max-listpack-entries fields (512 on Debian), which was a quarter of this script's time.
-- Small hashes stay compact. The field is HASH_TABLE_FIELD (''), which no id can be; readers skip it.
-- setIds is the one way the script writes such a hash.
local function setIds(key, items)
  sliced('HSET', key, items, 4000)
  if redis.call('HLEN', key) >= ${HASH_TABLE_AT} then redis.call('HSETNX', key, '${HASH_TABLE_FIELD}', '${HASH_TABLE_VALUE}') end
end
-- Client retries count once, checked in this atomic step (so two copies applied at the same time
-- by two partitions' writers cannot both count): an event id the call would record that another
-- record counted (Redis holds that record's partition:offset) makes it write nothing and answer 3,
-- and the caller folds the site again without the copy. The same record again (a replay) is no copy.
local casOps = cmsgpack.unpack(ARGV[4])
for _, op in ipairs(casOps) do
  if op[2] == 'e' then
    local items, ids, copy = op[4], {}, false
    for j = 1, #items, 2 do ids[#ids + 1] = items[j] end
    sliced('HMGET', KEYS[op[1]], ids, 4000, function(j, r)
      for i = 1, #r do
        if r[i] and r[i] ~= items[(j + i - 1) * 2] then copy = true end
      end
    end)
    if copy then return 3 end
  end
end
for _, op in ipairs(cmsgpack.unpack(ARGV[3])) do
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
  local inv = cmsgpack.unpack(ARGV[8])
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
local offsets = cmsgpack.unpack(ARGV[1])
local cur, stale = {}, false
for i, o in ipairs(offsets) do
  cur[i] = redis.call('HGET', KEYS[1], o[1]) or ''
  if cur[i] ~= o[2] then stale = true end
end
if stale then return cur end
local sv = cmsgpack.unpack(ARGV[5])
local state = nil
if sv[1] > 0 then
  state = KEYS[sv[1]]
  local list, names, moved = sv[2], {}, false
  for j = 1, #list, 3 do names[#names + 1] = list[j] end
  sliced('HMGET', state, names, 4000, function(j, r)
    for i = 1, #r do
      if (r[i] or '') ~= list[(j + i - 2) * 3 + 2] then moved = true end
    end
  end)
  if moved then return 2 end
end
-- Members per key are capped: a new member past the cap counts under '(other)' (a tuple with
-- every part '(other)'); aggregate counter fields are always written, so totals stay exact.
-- A key that cannot reach the cap in this call takes its increments without any other work.
-- Past that, increments being positive, one that returns its own delta made a new member: the
-- size is tracked without a call, and the member is looked up first only once the key is full.
-- (Deltas go to Redis as the caller's text: a Lua number prints large values as 1e+15, and
-- turning numbers into text and back in Lua (printf, strtod) cost more than the commands.)
local cap = tonumber(ARGV[6])
local function otherTuple(f)
  local parts = select(2, string.gsub(f, '\\31', ''))
  return string.sub(f, 1, 1) .. string.rep('\\31(other)', parts)
end
for _, op in ipairs(casOps) do
  local key, items = KEYS[op[1]], op[4]
  if op[2] == 'e' then
    setIds(key, items)
  elseif op[2] == 'n' then
    for j = 1, #items, 2 do redis.call('HSETNX', key, items[j], items[j + 1]) end
  elseif op[2] == 'h' then
    local n = redis.call('HLEN', key)
    if n + #items / 2 < cap then
      for j = 1, #items, 2 do redis.call('HINCRBY', key, items[j], items[j + 1]) end
    else
      for j = 1, #items, 2 do
        local f, d = items[j], tonumber(items[j + 1])
        if n >= cap and string.byte(f, 2) == 31 and redis.call('HEXISTS', key, f) == 0 then f = otherTuple(f) end
        if redis.call('HINCRBY', key, f, items[j + 1]) == d then n = n + 1 end
      end
    end
  else
    local n = redis.call('ZCARD', key)
    if n + #items / 2 < cap then
      for j = 1, #items, 2 do redis.call('ZINCRBY', key, items[j + 1], items[j]) end
    else
      for j = 1, #items, 2 do
        local m, d = items[j], tonumber(items[j + 1])
        if n >= cap and not redis.call('ZSCORE', key, m) then m = '${OTHER_VALUE}' end
        if tonumber(redis.call('ZINCRBY', key, items[j + 1], m)) == d then n = n + 1 end
      end
    end
  end
  expire(key, op[3])
end
if state then
  local list, kv = sv[2], {}
  for j = 1, #list, 3 do
    kv[#kv + 1] = list[j]
    kv[#kv + 1] = list[j + 2]
  end
  setIds(state, kv)
  redis.call('PEXPIRE', state, ttl)
  for _, op in ipairs(sv[3]) do
    sliced('PFADD', KEYS[op[1]], op[3], 4000)
    expire(KEYS[op[1]], op[2])
  end
  -- A visit's part of a minute is merged with what an earlier call wrote of it (first, last, sum).
  for _, op in ipairs(sv[4]) do
    local key, items, ids, out = KEYS[op[1]], op[3], {}, {}
    for j = 1, #items, 2 do ids[#ids + 1] = items[j] end
    sliced('HMGET', key, ids, 4000, function(j, r)
      for i = 1, #r do
        local b = (j + i - 2) * 2
        local v = items[b + 2]
        if r[i] then
          local f, l, n = string.match(v, '^(%d+):(%d+):(%d+)$')
          local pf, pl, pn = string.match(r[i], '^(%d+):(%d+):(%d+)$')
          f, l, n, pf, pl, pn = tonumber(f), tonumber(l), tonumber(n), tonumber(pf), tonumber(pl), tonumber(pn)
          if pf < f then f = pf end
          if pl > l then l = pl end
          v = string.format('%.0f', f) .. ':' .. string.format('%.0f', l) .. ':' .. string.format('%.0f', n + pn)
        end
        out[#out + 1] = items[b + 1]
        out[#out + 1] = v
      end
    end)
    setIds(key, out)
    expire(key, op[2])
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
export const OTHER_MEMBER = OTHER_VALUE;

export interface ApplyCall {
  keys: string[];
  args: (string | Buffer)[];
}

/** MessagePack as Redis' cmsgpack reads it: plain arrays, strings and integers, no records or extensions. */
const packr = new Packr({ useRecords: false });

/** One script argument in MessagePack (the apply script and rollup.writer.ts' read scripts). */
export function packArg(value: unknown): Buffer {
  return packr.pack(value);
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

/** How an apply call writes, besides its rollup. */
export interface ApplySettings {
  ttlMs: number;
  /** Contract 9's idle timeout; default core/sessions.ts DEFAULT_SESSION_IDLE_MS. */
  sessionIdleMs?: number;
  /** SPEED_MAX_MEMBERS; default DEFAULT_MAX_MEMBERS. */
  maxMembers?: number;
  /** The epoch id the writer expects ('' or absent: not checked). */
  epoch?: string;
  /** How long counted event ids are kept (ms); 0 or absent: no dedupe. */
  dedupeMs?: number;
  now?: number;
}

/**
 * Builds KEYS and ARGV for APPLY_LUA from a rollup holding events of the partitions in `offsets`;
 * its visits are cut against `priorStates` (visitor → state in Redis, null or absent: none), which
 * the script checks again.
 */
export function encodeApply(keys: SiteKeys, rollup: SiteRollup, offsets: readonly OffsetUpdate[], settings: ApplySettings, priorStates: ReadonlyMap<string, string | null> = new Map()): ApplyCall {
  const { ttlMs, sessionIdleMs = DEFAULT_SESSION_IDLE_MS, maxMembers = DEFAULT_MAX_MEMBERS, epoch = '', dedupeMs = 0, now = Date.now() } = settings;
  const keyList = [keys.offsets, keys.epoch];
  const once: Op[] = [];
  const cas: Op[] = [];
  const op = (list: Op[], key: string, kind: string, expireAt: number, items: readonly string[]): void => {
    if (items.length > 0) list.push([keyList.push(key), kind, String(expireAt), items]);
  };
  const minutes: string[] = [];
  const hours = new Map<number, Coarse & { pages: Map<string, number>; referrers: Map<string, number>; props: Map<string, Map<string, number>> }>();
  const days = new Map<number, Coarse>();
  for (const m of rollup.minutes.values()) {
    const min = m.minute;
    const exp = expireAtOf(min, ttlMs);
    minutes.push(String(min));
    op(once, keys.visitors(min), 'p', exp, m.visitors);
    if (m.dimVisitors.size > 0) {
      op(once, keys.dimIndex(min), 's', exp, [...m.dimVisitors.keys()]);
      for (const [dv, ids] of m.dimVisitors) op(once, keys.dimVisitors(min, dv), 'p', exp, ids);
    }
    op(cas, keys.counters(min), 'h', exp, pairs(m.counters));
    op(cas, keys.pages(min), 'z', exp, pairs(m.pages));
    op(cas, keys.referrers(min), 'z', exp, pairs(m.referrers));
    if (m.props) for (const [k, values] of m.props) op(cas, keys.props(min, k[0] as PropKind, k.slice(1)), 'z', exp, pairs(values));
    // Counted ids, kept the dedupe window from now (a retry comes within it) and never past the minute's own keys.
    if (dedupeMs > 0 && m.ids) {
      const counted: string[] = [];
      for (const [id, at] of m.ids) counted.push(id, at);
      op(cas, keys.eventIds(min), 'e', Math.min(now + dedupeMs, exp), counted);
    }
    const hour = Math.floor(min / HOUR_MINUTES);
    let h = hours.get(hour);
    if (!h) hours.set(hour, (h = { ...coarse(), pages: new Map(), referrers: new Map(), props: new Map() }));
    if (m.props) addNested(h.props, m.props);
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
  for (const [hour, h] of hours) {
    const exp = expireAtOf(hour * HOUR_MINUTES + HOUR_MINUTES - 1, ttlMs);
    op(cas, keys.pagesHour(hour), 'z', exp, pairs(h.pages));
    op(cas, keys.referrersHour(hour), 'z', exp, pairs(h.referrers));
    for (const [k, values] of h.props) op(cas, keys.propsHour(hour, k[0] as PropKind, k.slice(1)), 'z', exp, pairs(values));
    op(cas, keys.countersHour(hour), 'h', exp, pairs(h.counters));
    op(once, keys.visitorsHour(hour), 'p', exp, [...h.visitors]);
  }
  for (const [day, d] of days) {
    const exp = expireAtOf(day * DAY_MINUTES + DAY_MINUTES - 1, ttlMs);
    op(cas, keys.countersDay(day), 'h', exp, pairs(d.counters));
    op(once, keys.visitorsDay(day), 'p', exp, [...d.visitors]);
  }
  if (minutes.length > 0) once.push([keyList.push(keys.index), 'i', '0', minutes]);
  // The first minute each listed property key was kept from: a reader never takes an earlier minute's missing values for none.
  const since = new Map<string, number>();
  for (const m of rollup.minutes.values()) if (m.props) for (const k of m.props.keys()) if (!since.has(k.slice(1)) || since.get(k.slice(1))! > m.minute) since.set(k.slice(1), m.minute);
  op(cas, keys.propsSince, 'n', 0, [...since].flatMap(([k, min]) => [k, String(min)]));
  let visits: [number, string[], [number, string, string[]][], [number, string, string[]][]] = [0, [], [], []];
  if (rollup.visits.size > 0) {
    const plan = cutVisits(keys, rollup.visits, priorStates, sessionIdleMs, ttlMs);
    const parts = plan.parts.map((vp): [number, string, string[]] => {
      const items: string[] = [];
      for (const [id, [first, last, pageviews]] of vp.visits) items.push(id, visitPart(first, last, pageviews));
      return [keyList.push(vp.key), String(vp.expireAt), items];
    });
    visits = [keyList.push(keys.visitState), plan.states, plan.sketches.map((sk) => [keyList.push(sk.key), String(sk.expireAt), [...sk.ids]]), parts];
  }
  const records = packArg(offsets.map((o) => [o.field, o.expected ?? '', o.next]));
  const unions = days.size > 0 ? packArg([keyList.push(keys.daysUnions), [...days.keys()]]) : '';
  return { keys: keyList, args: [records, String(ttlMs), packArg(once), packArg(cas), packArg(visits), String(maxMembers), epoch, unions] };
}
