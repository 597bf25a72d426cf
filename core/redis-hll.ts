/**
 * A HyperLogLog in Redis' own dense format (Redis hyperloglog.c: 16,384 six-bit registers,
 * MurmurHash64A of the element's bytes with seed 0xadc83b19), built in this process. SET into
 * Redis, it is a sketch PFCOUNT and PFMERGE take as their own, register for register what PFADD of
 * the same elements makes: a day's visitors can be sketched where the ids are (the batch job)
 * instead of sending every id to Redis when a question spans the day.
 */
const P = 14;
const REGISTERS = 1 << P;
const BITS = 6;
const MAX = (1 << BITS) - 1;
const HEADER = 16;
/** Header and registers of a dense HyperLogLog (Redis' HLL_DENSE_SIZE). */
export const DENSE_BYTES = HEADER + Math.floor((REGISTERS * BITS + 7) / 8);

const M = 0xc6a4a7935bd1e995n;
const MASK = 0xffffffffffffffffn;
const SEED = 0xadc83b19n;

/** Redis' MurmurHash64A (little-endian reads, as on the machines Redis runs on). */
export function murmurHash64A(key: Uint8Array, seed = SEED): bigint {
  const len = key.length;
  let h = (seed ^ ((BigInt(len) * M) & MASK)) & MASK;
  const whole = len - (len & 7);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  for (let i = 0; i < whole; i += 8) {
    let k = view.getBigUint64(i, true);
    k = (k * M) & MASK;
    k ^= k >> 47n;
    k = (k * M) & MASK;
    h ^= k;
    h = (h * M) & MASK;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let i = rest - 1; i >= 0; i--) h ^= BigInt(key[whole + i]!) << BigInt(8 * i);
    h = (h * M) & MASK;
  }
  h ^= h >> 47n;
  h = (h * M) & MASK;
  h ^= h >> 47n;
  return h;
}

export class RedisHll {
  readonly registers = new Uint8Array(REGISTERS);

  /** Adds an element as Redis would take it from a client (its UTF-8 bytes). */
  add(element: string): void {
    const hash = murmurHash64A(Buffer.from(element, 'utf8'));
    const index = Number(hash & BigInt(REGISTERS - 1));
    // The run of zeros after the index bits, plus one (a bit set at 50 bounds it).
    let rest = (hash >> BigInt(P)) | (1n << BigInt(64 - P));
    let count = 1;
    while ((rest & 1n) === 0n) {
      count++;
      rest >>= 1n;
    }
    if (count > this.registers[index]!) this.registers[index] = count;
  }

  /** Takes the larger register of each pair (PFMERGE). */
  merge(other: RedisHll): void {
    for (let i = 0; i < REGISTERS; i++) if (other.registers[i]! > this.registers[i]!) this.registers[i] = other.registers[i]!;
  }

  /** The dense string Redis keeps: "HYLL", encoding 0, the cardinality cache marked stale. */
  toBuffer(): Buffer {
    const out = Buffer.alloc(DENSE_BYTES);
    out.write('HYLL', 0, 'latin1');
    out[15] = 0x80; // the cached cardinality is not valid: PFCOUNT computes it
    for (let i = 0; i < REGISTERS; i++) {
      const v = this.registers[i]!;
      if (v === 0) continue;
      const bit = i * BITS;
      const byte = HEADER + (bit >> 3);
      const fb = bit & 7;
      out[byte] = (out[byte]! & ~(MAX << fb)) | ((v << fb) & 0xff);
      if (fb > 8 - BITS && byte + 1 < DENSE_BYTES) out[byte + 1] = (out[byte + 1]! & ~(MAX >> (8 - fb))) | (v >> (8 - fb));
    }
    return out;
  }

  /** Reads a dense HyperLogLog as Redis keeps it (GET after PFDEBUG TODENSE, or toBuffer()). */
  static fromBuffer(buf: Buffer): RedisHll {
    if (buf.length !== DENSE_BYTES || buf.toString('latin1', 0, 4) !== 'HYLL' || buf[4] !== 0) throw new Error('not a dense HyperLogLog of Redis');
    const hll = new RedisHll();
    for (let i = 0; i < REGISTERS; i++) {
      const bit = i * BITS;
      const byte = HEADER + (bit >> 3);
      const fb = bit & 7;
      const b0 = buf[byte]!;
      const b1 = byte + 1 < DENSE_BYTES ? buf[byte + 1]! : 0;
      hll.registers[i] = ((b0 >> fb) | (b1 << (8 - fb))) & MAX;
    }
    return hll;
  }
}
