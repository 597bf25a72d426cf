/**
 * Dimension tuples of the counter hash as numbers while a batch is folded. A tuple field
 * (`kind SEP name SEP country SEP device SEP browser SEP os SEP <acquisition>`) built per event was
 * the rollup's largest cost: a string concatenation per event, kept alive with its parts by the
 * counter map through every young-generation collection. Each value gets a small id per
 * dimension instead (ids live as long as the process, bounded), the tuple is their packed sum,
 * and its field string is built once per distinct tuple when the rollup is written. The
 * acquisition part is one value: the UTM tags and the channel joined by SEP (rollup.aggregator.ts
 * acquisitionOf), since they travel together (one link's tags) and a part each would not fit.
 */
import { SEP } from './redis.keys.ts';

/** Bits per part, kind first: 3 + 11 + 9 + 4 + 7 + 7 + 12 = 53 (every code below 2^53, exact in a double). */
const BITS = [3, 11, 9, 4, 7, 7, 12] as const;
const SHIFT: number[] = [];
for (let i = 0, s = 1; i < BITS.length; s *= 2 ** BITS[i]!, i++) SHIFT.push(s);

/** Value ↔ id per part (kind, event name, country, device, browser, OS, acquisition). */
const ids: Map<string, number>[] = BITS.map(() => new Map());
const values: string[][] = BITS.map(() => []);

/** Id of `value` in part `i`, or -1 once that part's ids are used up (callers fall back to strings). */
function idOf(i: number, value: string): number {
  let id = ids[i]!.get(value);
  if (id === undefined) {
    if (values[i]!.length >= 2 ** BITS[i]!) return -1;
    id = values[i]!.push(value) - 1;
    ids[i]!.set(value, id);
  }
  return id;
}

/** The tuple's code, or -1 when a value has no id (the caller keys it by its field string). */
export function tupleCode(kind: string, name: string, country: string, device: string, browser: string, os: string, acquisition: string): number {
  const k = idOf(0, kind), n = idOf(1, name), c = idOf(2, country), d = idOf(3, device), b = idOf(4, browser), o = idOf(5, os), u = idOf(6, acquisition);
  if ((k | n | c | d | b | o | u) < 0) return -1;
  return k + n * SHIFT[1]! + c * SHIFT[2]! + d * SHIFT[3]! + b * SHIFT[4]! + o * SHIFT[5]! + u * SHIFT[6]!;
}

/**
 * Field strings by code: tuples repeat from batch to batch, and a cached field is built, flattened
 * and hashed once (building them per batch cost about 2 µs per event). Bounded.
 */
const fields = new Map<number, string>();

/** The counter-hash field of a code from tupleCode (redis.keys.ts tupleField). */
export function tupleFieldOf(code: number): string {
  let field = fields.get(code);
  if (field === undefined) {
    if (fields.size >= 200_000) fields.clear();
    fields.set(code, (field = buildField(code)));
  }
  return field;
}

function buildField(code: number): string {
  let field = '';
  let rest = code;
  for (let i = 0; i < BITS.length; i++) {
    const size = 2 ** BITS[i]!;
    const id = rest % size;
    rest = (rest - id) / size;
    field += (i === 0 ? '' : SEP) + values[i]![id]!;
  }
  return field;
}
