/**
 * How one site's rollup of the partition batches of one round reaches Redis (contract 6): one
 * script call per site, in two sections.
 *
 * 1. Idempotent, always run: PFADD of visitor/session ids (re-adding an id leaves a HyperLogLog
 *    unchanged), SADD of the per-value sketch index, ZADD of the minute index, each key's expiry.
 *    Running them even when the compare-and-set below loses keeps every key under a TTL.
 * 2. The compare-and-set for what is not idempotent: HINCRBY of counters and ZINCRBY of top
 *    pages/referrers, applied iff the offset record of every partition the rollup holds events of
 *    still holds what the caller rolled up against, with the new offsets recorded in the same
 *    atomic step. Several partitions in one call is what lets the consumer fold the batches of
 *    one fetch together (half the counter and top-k updates).
 * Each section's items travel as one JSON argument (cjson.decode in Redis), not one argument
 * per id or field: the client then spends its time on one native JSON.stringify per site
 * instead of building thousands of RESP arguments (that was the consumer's largest cost).
 * All keys are one site's (one `{site}` hash tag): valid on Redis Cluster.
 *
 * KEYS: 1 offset record, 2.. data keys.
 * ARGV: 1 JSON [[offset field, expected offset ('' = none), new offset], ...], 2 TTL ms,
 *       3 JSON [[key index, type, expire-at ms ('0' = PEXPIRE TTL), [ids...]], ...] (p = PFADD,
 *         s = SADD, i = ZADD score=member=minute),
 *       4 JSON [[key index, type, expire-at ms, [field, delta, ...]], ...] (h = HINCRBY, z = ZINCRBY).
 * Returns 1, or (nothing written but the idempotent section) the current offsets in ARGV[1] order.
 */
import type { SiteKeys } from './redis.keys.ts';
import { MINUTE_MS } from './redis.keys.ts';
import type { SiteRollup } from './types.ts';

export const APPLY_LUA = `
local ttl = ARGV[2]
local function expire(key, at)
  if at == '0' then redis.call('PEXPIRE', key, ttl) else redis.call('PEXPIREAT', key, at) end
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
local offsets = cjson.decode(ARGV[1])
local cur, stale = {}, false
for i, o in ipairs(offsets) do
  cur[i] = redis.call('HGET', KEYS[1], o[1]) or ''
  if cur[i] ~= o[2] then stale = true end
end
if stale then return cur end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  local key, items = KEYS[op[1]], op[4]
  if op[2] == 'h' then
    for j = 1, #items, 2 do redis.call('HINCRBY', key, items[j], items[j + 1]) end
  else
    for j = 1, #items, 2 do redis.call('ZINCRBY', key, items[j + 1], items[j]) end
  end
  expire(key, op[3])
end
for _, o in ipairs(offsets) do redis.call('HSET', KEYS[1], o[1], o[3]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

export interface ApplyCall {
  keys: string[];
  args: string[];
}

/** Minute keys expire TTL after the minute ends (event time), so coverage is exact. */
export function expireAtOf(minute: number, ttlMs: number): number {
  return (minute + 1) * MINUTE_MS + ttlMs;
}

type Op = [keyIndex: number, kind: string, expireAt: string, items: readonly string[]];

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
export function encodeApply(keys: SiteKeys, rollup: SiteRollup, offsets: readonly OffsetUpdate[], ttlMs: number): ApplyCall {
  const keyList = [keys.offsets];
  const once: Op[] = [];
  const cas: Op[] = [];
  const op = (list: Op[], key: string, kind: string, expireAt: number, items: readonly string[]): void => {
    if (items.length > 0) list.push([keyList.push(key), kind, String(expireAt), items]);
  };
  const minutes: string[] = [];
  for (const m of rollup.minutes.values()) {
    const min = m.minute;
    const exp = expireAtOf(min, ttlMs);
    minutes.push(String(min));
    op(once, keys.visitors(min), 'p', exp, m.visitors);
    op(once, keys.sessions(min), 'p', exp, [...m.sessions]);
    if (m.dimVisitors.size > 0) {
      op(once, keys.dimIndex(min), 's', exp, [...m.dimVisitors.keys()]);
      for (const [dv, ids] of m.dimVisitors) op(once, keys.dimVisitors(min, dv), 'p', exp, ids);
    }
    op(cas, keys.counters(min), 'h', exp, pairs(m.counters));
    op(cas, keys.pages(min), 'z', exp, pairs(m.pages));
    op(cas, keys.referrers(min), 'z', exp, pairs(m.referrers));
  }
  if (minutes.length > 0) once.push([keyList.push(keys.index), 'i', '0', minutes]);
  const records = JSON.stringify(offsets.map((o) => [o.field, o.expected ?? '', o.next]));
  return { keys: keyList, args: [records, String(ttlMs), JSON.stringify(once), JSON.stringify(cas)] };
}
