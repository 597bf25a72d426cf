/**
 * Turns the Avro payload of an event straight into the CSV line the spool holds (one field per
 * lake column, in LAKE_COLUMNS order), without building a JS object or a JS string per field:
 * ASCII strings are copied byte by byte, numbers are written as digits. This is the archiver's
 * hot loop (decoding to objects and serialising them cost most of its CPU and garbage).
 *
 * CSV dialect (lake.schema.ts reads it back): `,` between fields, a string bare unless it is empty
 * or holds `"`, `,` or a line break (then quoted, `"` doubled), an empty unquoted field is NULL, booleans `true`/`false`, a map is its JSON
 * (NULL when empty), times are epoch ms.
 *
 * The fast path handles records whose writer schema is the reader schema itself (the codec's own
 * id, what every current producer writes); other ids are decoded by the codec's schema resolution
 * and written with appendEvent(). A payload avsc rejects (truncated, trailing bytes, bad union or
 * enum index, unsafe long) is rejected here too, as an AvroDecodeError (code PAYLOAD_FORMAT).
 */
import type avro from 'avsc';
import { AvroDecodeError } from '../schemas/index.ts';
import { HEADER_SIZE, MAGIC_BYTE } from '../schemas/index.ts';

/** Field shapes the encoder handles (small ints: the hot loop switches on them). */
const Kind = { String: 0, Enum: 1, Long: 2, Int: 3, Boolean: 4, MapOfStrings: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface FieldPlan {
  /** Commas written before the value: its separator plus one per lake column the reader lacks. */
  lead: number;
  kind: Kind;
  /** Union branch index that means null, or -1 when the field is not a [null, T] union. */
  nullIndex: number;
  /** Quoted bytes of each enum symbol. */
  symbols: Uint8Array[];
}

interface Plan {
  fields: FieldPlan[];
  /** Commas after the last field, for lake columns after the reader's last one. */
  trail: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
/** Bytes a bare field cannot hold as they are: CSV syntax, and anything non-ASCII (checked as UTF-8 on the general path). */
const SPECIAL = new Uint8Array(256).fill(1, 0x80);
for (const b of [QUOTE, COMMA, NEWLINE, RETURN]) SPECIAL[b] = 1;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
/** avsc's bound for a long read as a JS number. */
const MAX_LONG = 9007199254740990n;

class PayloadError extends Error {}

const NO_BYTES = Buffer.alloc(0);

function kindOf(t: avro.Type): Kind | undefined {
  switch (t.typeName) {
    case 'string':
      return Kind.String;
    case 'enum':
      return Kind.Enum;
    case 'long':
      return Kind.Long;
    case 'int':
      return Kind.Int;
    case 'boolean':
      return Kind.Boolean;
    case 'map':
      return (t as avro.types.MapType).valuesType.typeName === 'string' ? Kind.MapOfStrings : undefined;
    default:
      return undefined;
  }
}

function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** A string field: bare unless it is empty or holds a quote, comma or line break (bare fields parse faster). */
function field(text: string): string {
  return text === '' || /[",\n\r]/.test(text) ? quoted(text) : text;
}

/**
 * The fast-path plan of a record type, or undefined when it cannot have one: a field of a shape
 * this encoder does not handle, a field that is no lake column, or fields in another order.
 */
function planOf(type: avro.Type, columns: readonly string[]): Plan | undefined {
  if (type.typeName !== 'record') return undefined;
  const fields: FieldPlan[] = [];
  let next = 0;
  for (const f of (type as avro.types.RecordType).fields) {
    const column = columns.indexOf(f.name);
    if (column < next) return undefined;
    let t = f.type;
    let nullIndex = -1;
    if (t.typeName === 'union:unwrapped') {
      const branches = (t as avro.types.UnwrappedUnionType).types;
      if (branches.length !== 2) return undefined;
      nullIndex = branches.findIndex((b) => b.typeName === 'null');
      if (nullIndex < 0) return undefined;
      t = branches[1 - nullIndex]!;
    }
    const kind = kindOf(t);
    if (kind === undefined) return undefined;
    const symbols = kind === Kind.Enum ? (t as avro.types.EnumType).symbols.map((s) => Buffer.from(field(s))) : [];
    fields.push({ lead: column - next + (next > 0 ? 1 : 0), kind, nullIndex, symbols });
    next = column + 1;
  }
  return { fields, trail: Math.max(0, columns.length - next - (next > 0 ? 0 : 1)) };
}

export class SpoolLineEncoder {
  private readonly plan: Plan | undefined;
  /** Output bytes a record can take beyond 6 per payload byte (separators, longest constants). */
  private readonly overhead: number;
  private src: Buffer = NO_BYTES;
  private pos = 0;
  private end = 0;
  private out: Buffer;
  private at = 0;
  private longest = 0;

  /**
   * `readerType` is the codec's record type and `schemaId` the registry id of that same schema:
   * only payloads framed with this id take the fast path. `columns` are the lake's column names.
   */
  constructor(
    readerType: avro.Type,
    private readonly schemaId: number,
    private readonly columns: readonly string[],
    initialBytes = 1 << 20,
  ) {
    this.plan = planOf(readerType, columns);
    this.overhead = 16 + 8 * columns.length + (this.plan?.fields ?? []).reduce((n, p) => n + Math.max(0, ...p.symbols.map((s) => s.length)), 0);
    this.out = Buffer.allocUnsafe(initialBytes);
  }

  /** Lines written since the last reset(), as one view (valid until the next call). */
  bytes(): Buffer {
    return this.out.subarray(0, this.at);
  }

  /** Bytes of the longest line written since the last reset(), newline included (DuckDB must be told). */
  get longestLine(): number {
    return this.longest;
  }

  reset(): void {
    this.at = 0;
    this.longest = 0;
    if (this.out.length > 64 << 20) this.out = Buffer.allocUnsafe(1 << 20); // give back a buffer a huge batch grew
  }

  /**
   * Appends the line of a Confluent-framed record and returns true, or returns false (writing
   * nothing) when the record is not framed with the reader's own schema id. Throws
   * AvroDecodeError for bytes that do not decode.
   */
  tryAppend(framed: Buffer): boolean {
    if (this.plan === undefined || framed.length < HEADER_SIZE || framed[0] !== MAGIC_BYTE || framed.readUInt32BE(1) !== this.schemaId) return false;
    const start = this.at;
    this.src = framed;
    this.pos = HEADER_SIZE;
    this.end = framed.length;
    this.reserve(this.overhead + 6 * (framed.length - HEADER_SIZE));
    try {
      this.record(this.plan);
      if (this.pos > this.end) throw new PayloadError('truncated buffer');
      if (this.pos < this.end) throw new PayloadError('trailing data');
      if (this.at - start > this.longest) this.longest = this.at - start;
    } catch (err) {
      this.at = start;
      if (err instanceof PayloadError) throw new AvroDecodeError(this.schemaId, err);
      throw err;
    } finally {
      this.src = NO_BYTES; // do not keep the fetch buffer alive
    }
    return true;
  }

  /** Appends the line of an event the codec decoded (the slow path), in the same dialect. */
  appendEvent(event: object): void {
    const values = event as Record<string, unknown>;
    const parts = this.columns.map((c) => {
      const v = values[c];
      if (v === null || v === undefined) return '';
      if (typeof v === 'string') return field(v);
      if (typeof v === 'object') return Object.keys(v).length === 0 ? '' : quoted(JSON.stringify(v));
      return String(v);
    });
    const start = this.at;
    this.write(parts.join(',') + '\n');
    if (this.at - start > this.longest) this.longest = this.at - start;
  }

  private reserve(n: number): void {
    if (this.at + n <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.out.length, this.at + n));
    this.out.copy(grown, 0, 0, this.at);
    this.out = grown;
  }

  private record(plan: Plan): void {
    const fields = plan.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      for (let c = f.lead; c > 0; c--) this.out[this.at++] = COMMA;
      if (f.nullIndex >= 0) {
        const branch = this.readLong();
        if (branch === f.nullIndex) continue; // NULL is the empty field
        if (branch !== 1 - f.nullIndex) throw new PayloadError(`invalid union index: ${branch}`);
      }
      switch (f.kind) {
        case Kind.String:
          this.string();
          break;
        case Kind.Enum: {
          const symbol = f.symbols[this.readLong()];
          if (symbol === undefined) throw new PayloadError('invalid enum index');
          this.put(symbol);
          break;
        }
        case Kind.Long:
          this.digits(this.readLong());
          break;
        case Kind.Int: {
          const n = this.readLong();
          // avsc would accept it, but DuckDB could not read it as INTEGER and the whole roll would fail.
          if (n < INT32_MIN || n > INT32_MAX) throw new PayloadError(`int out of range: ${n}`);
          this.digits(n);
          break;
        }
        case Kind.Boolean:
          if (this.pos >= this.end) throw new PayloadError('truncated buffer');
          this.put(this.src[this.pos++] ? TRUE : FALSE);
          break;
        case Kind.MapOfStrings:
          this.map();
          break;
      }
    }
    for (let c = plan.trail; c > 0; c--) this.out[this.at++] = COMMA;
    this.out[this.at++] = NEWLINE;
  }

  private put(bytes: Uint8Array): void {
    const out = this.out;
    let at = this.at;
    for (let i = 0; i < bytes.length; i++) out[at++] = bytes[i]!;
    this.at = at;
  }

  /**
   * Zigzag varint as a number. Like avsc, a long beyond ±(2^53 - 2) is an error rather than a
   * rounded number; unlike avsc (which flips the sign of negatives below -2^52), it is exact.
   */
  private readLong(): number {
    const buf = this.src;
    const start = this.pos;
    let b = buf[start]!;
    if (b < 0x80 && start < this.end) {
      this.pos = start + 1;
      return b & 1 ? -((b + 1) >> 1) : b >> 1; // one byte: most lengths, indexes and flags
    }
    let pos = start + 1;
    let n = b & 0x7f;
    let scale = 128;
    while (b & 0x80) {
      if (pos >= this.end || scale > 2 ** 63) throw new PayloadError('truncated buffer');
      b = buf[pos++]!;
      n += (b & 0x7f) * scale;
      scale *= 128;
    }
    if (pos > this.end) throw new PayloadError('truncated buffer');
    this.pos = pos;
    if (n <= Number.MAX_SAFE_INTEGER) return n % 2 === 1 ? -(n + 1) / 2 : n / 2;
    let big = 0n;
    for (let i = pos - 1; i >= start; i--) big = (big << 7n) | BigInt(buf[i]! & 0x7f);
    const value = big & 1n ? -((big + 1n) >> 1n) : big >> 1n;
    if (value > MAX_LONG || value < -MAX_LONG) throw new PayloadError('potential precision loss');
    return Number(value);
  }

  private digits(n: number): void {
    if (n === 0) {
      this.out[this.at++] = 0x30;
      return;
    }
    if (n < 0) {
      this.out[this.at++] = 0x2d;
      n = -n;
    }
    this.at = writeDecimal(this.out, this.at, n);
  }

  /** Length of the next Avro string, checked against the payload; the position moves past it. */
  private span(): number {
    const len = this.readLong();
    if (len < 0 || this.pos + len > this.end) throw new PayloadError('truncated buffer');
    this.pos += len;
    return len;
  }

  /** A string field: ASCII bytes copied (quoted only when needed); anything else decoded as avsc does (U+FFFD for bad UTF-8). */
  private string(): void {
    const len = this.span();
    const to = this.pos;
    const from = to - len;
    const src = this.src;
    const out = this.out;
    let at = this.at;
    if (len === 0) {
      out[at++] = QUOTE;
      out[at++] = QUOTE;
      this.at = at;
      return;
    }
    for (let i = from; i < to; i++) {
      const b = src[i]!;
      if (SPECIAL[b] === 1) {
        this.write(field(src.toString('utf8', from, to))); // rare: the general path
        return;
      }
      out[at++] = b;
    }
    this.at = at;
  }

  /** Empty maps are the common case (NULL); others are built as avsc builds them (later keys win) and written as JSON. */
  private map(): void {
    let entries: Record<string, string> | undefined;
    for (let n = this.readLong(); n !== 0; n = this.readLong()) {
      if (n < 0) {
        n = -n;
        this.readLong(); // block size in bytes
      }
      entries ??= {};
      for (; n > 0; n--) {
        const k = this.span();
        const key = this.src.toString('utf8', this.pos - k, this.pos);
        const v = this.span();
        entries[key] = this.src.toString('utf8', this.pos - v, this.pos);
      }
    }
    if (entries !== undefined && Object.keys(entries).length > 0) this.write(quoted(JSON.stringify(entries)));
  }

  private write(text: string): void {
    this.reserve(3 * text.length + this.overhead);
    this.at += this.out.write(text, this.at, 'utf8');
  }
}

/**
 * Writes a positive safe integer's decimal digits at `at` without making a string (the spool
 * encoders' hot path); returns the position after them. The caller reserved the room.
 */
export function writeDecimal(out: Uint8Array, at: number, n: number): number {
  let len = 1;
  for (let p = 10; p <= n; p *= 10) len++;
  const end = at + len;
  let i = end;
  while (n > 0) {
    const q = Math.floor(n / 10);
    out[--i] = 0x30 + (n - q * 10);
    n = q;
  }
  return end;
}
