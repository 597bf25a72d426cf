/**
 * How one site's rollup of one partition batch reaches Redis (contract 6), in two parts sent
 * in one pipeline on one connection, so Redis runs them in this order:
 *
 * 1. Idempotent commands (`idempotentPart`): PFADD of visitor/session ids (re-adding an id
 *    leaves a HyperLogLog unchanged), SADD of the per-value sketch index, ZADD of the minute
 *    index. Native variadic commands: no Lua string per id. They precede the script, so
 *    whenever the offset record moved, they had run; a replay or a lost compare-and-set merely
 *    repeats them.
 * 2. The script (APPLY_LUA): first the expiries of those keys, always (idempotent too, and a
 *    key created by a PFADD whose compare-and-set then lost still gets its TTL); then the
 *    compare-and-set for what is not idempotent: HINCRBY of counters and ZINCRBY of top
 *    pages/referrers, applied iff the offset record still holds what the caller rolled up
 *    against, with the new offset recorded in the same atomic step.
 * All keys are one site's (one `{site}` hash tag): valid on Redis Cluster.
 *
 * Script KEYS: 1 offset record, 2..E+1 keys of the idempotent part, then data keys.
 * ARGV: 1 offset field, 2 expected offset ('' = none), 3 new offset, 4 TTL ms, 5 E, then E
 *       expire-at ms ('0' = PEXPIRE TTL), then op count, then per op: key index, type,
 *       expire-at ms, item count, items.
 * Types: h = HINCRBY field n pairs, z = ZINCRBY member n pairs.
 */
import type { SiteKeys } from './redis.keys.ts';
import { MINUTE_MS } from './redis.keys.ts';
import type { SiteRollup } from './types.ts';

export const APPLY_LUA = `
local ttl = ARGV[4]
local nexp = tonumber(ARGV[5])
for i = 1, nexp do
  local at = ARGV[5 + i]
  if at == '0' then redis.call('PEXPIRE', KEYS[1 + i], ttl) else redis.call('PEXPIREAT', KEYS[1 + i], at) end
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (cur or '') ~= ARGV[2] then return cur or '' end
local a = 6 + nexp
local nops = tonumber(ARGV[a])
a = a + 1
for _ = 1, nops do
  local key = KEYS[tonumber(ARGV[a])]
  local kind = ARGV[a + 1]
  local n = tonumber(ARGV[a + 3])
  local first = a + 4
  local last = first + n - 1
  if kind == 'h' then
    for j = first, last, 2 do redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) end
  else
    for j = first, last, 2 do redis.call('ZINCRBY', key, ARGV[j + 1], ARGV[j]) end
  end
  redis.call('PEXPIREAT', key, ARGV[a + 2])
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

/** A Redis command as ioredis' pipeline takes it: name, then arguments. */
export type RedisCommand = [name: string, ...args: (string | number)[]];

/** Minute keys expire TTL after the minute ends (event time), so coverage is exact. */
export function expireAtOf(minute: number, ttlMs: number): number {
  return (minute + 1) * MINUTE_MS + ttlMs;
}

/** Largest number of ids per PFADD/SADD (bounds one command's size). */
const MAX_ITEMS = 4_000;

/** The idempotent part of a rollup: its commands, and the keys they write with their expiries. */
export interface IdempotentPart {
  commands: RedisCommand[];
  expiries: [key: string, expireAt: number][];
}

export function idempotentPart(keys: SiteKeys, rollup: SiteRollup, ttlMs: number): IdempotentPart {
  const part: IdempotentPart = { commands: [], expiries: [] };
  const add = (cmd: string, key: string, items: Iterable<string>, expireAt: number): void => {
    const all = Array.isArray(items) ? (items as string[]) : [...items];
    if (all.length === 0) return;
    for (let i = 0; i < all.length; i += MAX_ITEMS) part.commands.push([cmd, key, ...all.slice(i, i + MAX_ITEMS)]);
    part.expiries.push([key, expireAt]);
  };
  const index: (string | number)[] = [];
  for (const m of rollup.minutes.values()) {
    const min = m.minute;
    const exp = expireAtOf(min, ttlMs);
    index.push(min, min);
    add('pfadd', keys.visitors(min), m.visitors, exp);
    add('pfadd', keys.sessions(min), m.sessions, exp);
    if (m.dimVisitors.size > 0) {
      add('sadd', keys.dimIndex(min), m.dimVisitors.keys(), exp);
      for (const [dv, ids] of m.dimVisitors) add('pfadd', keys.dimVisitors(min, dv), ids, exp);
    }
  }
  if (index.length > 0) {
    part.commands.push(['zadd', keys.index, ...index]);
    part.expiries.push([keys.index, 0]);
  }
  return part;
}

class CallBuilder {
  readonly keys: string[];
  readonly ops: string[] = [];
  private nops = 0;
  constructor(offsetsKey: string, expiryKeys: string[]) {
    this.keys = [offsetsKey, ...expiryKeys];
  }
  op(key: string, kind: string, expireAt: number, map: Map<string, number>): void {
    const at = this.ops.length;
    this.ops.push(String(this.keys.length + 1), kind, String(expireAt), '');
    for (const [k, v] of map) if (v !== 0) this.ops.push(k, String(v));
    const items = this.ops.length - at - 4;
    if (items === 0) return void (this.ops.length = at);
    this.ops[at + 3] = String(items);
    this.keys.push(key);
    this.nops++;
  }
  get count(): number {
    return this.nops;
  }
}

/** Builds KEYS and ARGV for APPLY_LUA (the non-idempotent part) from a rollup. */
export function encodeApply(keys: SiteKeys, rollup: SiteRollup, field: string, expected: string | null, ttlMs: number, expiries: IdempotentPart['expiries'] = []): ApplyCall {
  const b = new CallBuilder(keys.offsets, expiries.map((e) => e[0]));
  for (const m of rollup.minutes.values()) {
    const exp = expireAtOf(m.minute, ttlMs);
    b.op(keys.counters(m.minute), 'h', exp, m.counters);
    b.op(keys.pages(m.minute), 'z', exp, m.pages);
    b.op(keys.referrers(m.minute), 'z', exp, m.referrers);
  }
  const head = [field, expected ?? '', rollup.maxOffset, String(ttlMs), String(expiries.length)];
  for (const e of expiries) head.push(String(e[1]));
  head.push(String(b.count));
  return { keys: b.keys, args: head.concat(b.ops) };
}
