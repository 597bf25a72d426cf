/**
 * The Lua script that applies one site's rollup of one partition batch atomically with the
 * offset record (contract 6). It is a compare-and-set: the caller read the applied offset,
 * rolled up only the events above it, and passes that offset as `expected`; if another
 * instance moved it meanwhile, nothing is written and the caller rolls up again. All keys are
 * one site's (one hash tag), so the script is valid on Redis Cluster.
 *
 * KEYS: 1 offset record, 2 minute index, 3.. data keys.
 * ARGV: 1 offset field, 2 expected offset ('' = none), 3 new offset, 4 TTL ms of the
 *       site-wide keys, 5 op count, then per op: key index, type, expire-at ms, item count, items.
 * Types: h = HINCRBY field n pairs, z = ZINCRBY member n pairs, p = PFADD, s = SADD, i = ZADD score member pairs.
 */
import type { SiteKeys } from './redis.keys.ts';
import { MINUTE_MS } from './redis.keys.ts';
import type { SiteRollup } from './types.ts';

export const APPLY_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return cur or '' end
local ttl = ARGV[4]
local nops = tonumber(ARGV[5])
local a = 6
for _ = 1, nops do
  local key = KEYS[tonumber(ARGV[a])]
  local kind = ARGV[a + 1]
  local expireAt = ARGV[a + 2]
  local n = tonumber(ARGV[a + 3])
  local first = a + 4
  local last = first + n - 1
  if kind == 'h' then
    for j = first, last, 2 do redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) end
  elseif kind == 'z' then
    for j = first, last, 2 do redis.call('ZINCRBY', key, ARGV[j + 1], ARGV[j]) end
  elseif kind == 'i' then
    for j = first, last, 2 do redis.call('ZADD', key, ARGV[j], ARGV[j + 1]) end
  else
    local cmd = (kind == 'p') and 'PFADD' or 'SADD'
    local j = first
    while j <= last do
      local k = math.min(last, j + 3999)
      redis.call(cmd, key, unpack(ARGV, j, k))
      j = k + 1
    end
  end
  if expireAt == '0' then redis.call('PEXPIRE', key, ttl) else redis.call('PEXPIREAT', key, expireAt) end
  a = last + 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
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

class CallBuilder {
  readonly keys: string[];
  readonly ops: string[] = [];
  private nops = 0;
  constructor(offsetsKey: string, indexKey: string) {
    this.keys = [offsetsKey, indexKey];
  }
  op(key: string | number, kind: string, expireAt: number, items: string[]): void {
    if (items.length === 0) return;
    const index = typeof key === 'number' ? key : this.keys.push(key);
    this.ops.push(String(index), kind, String(expireAt), String(items.length));
    for (const it of items) this.ops.push(it);
    this.nops++;
  }
  get count(): number {
    return this.nops;
  }
}

function pairs(map: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of map) if (v !== 0) out.push(k, String(v));
  return out;
}

/** Builds KEYS and ARGV for APPLY_LUA from a rollup. */
export function encodeApply(keys: SiteKeys, rollup: SiteRollup, field: string, expected: string | null, ttlMs: number): ApplyCall {
  const b = new CallBuilder(keys.offsets, keys.index);
  const index: string[] = [];
  for (const m of rollup.minutes.values()) {
    const min = m.minute;
    const exp = expireAtOf(min, ttlMs);
    index.push(String(min), String(min));
    b.op(keys.counters(min), 'h', exp, pairs(m.counters));
    b.op(keys.visitors(min), 'p', exp, [...m.visitors]);
    b.op(keys.sessions(min), 'p', exp, [...m.sessions]);
    b.op(keys.pages(min), 'z', exp, pairs(m.pages));
    b.op(keys.referrers(min), 'z', exp, pairs(m.referrers));
    if (m.dimVisitors.size > 0) {
      b.op(keys.dimIndex(min), 's', exp, [...m.dimVisitors.keys()]);
      for (const [dv, ids] of m.dimVisitors) b.op(keys.dimVisitors(min, dv), 'p', exp, [...ids]);
    }
  }
  b.op(2, 'i', 0, index);
  return { keys: b.keys, args: [field, expected ?? '', rollup.maxOffset, String(ttlMs), String(b.count), ...b.ops] };
}
