/**
 * The public event JSON (documented in ingest/README.md) and its validation. Strict on
 * purpose: an unknown field, a wrong type or a string with a NUL character is rejected with
 * the field's path, never silently dropped or coerced.
 */
import { z } from 'zod';
import { EVENT_KINDS, type EventKind } from '../schemas/index.ts';
import { deadLetter, ok, type DeadLetterCode, type Outcome } from '../dlq/index.ts';

export const LIMITS = {
  shortText: 200,
  url: 2048,
  title: 1000,
  propKey: 100,
  propValue: 1000,
  props: 50,
  /** 6 decimals after the point: revenue is stored in micro-units. */
  revenueDecimals: 6,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO-8601 with a date, a time and an explicit zone, so there is no guessing. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A NUL character or a lone surrogate cannot be stored faithfully (Avro strings are UTF-8). */
function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

const text = (max: number) =>
  z
    .string()
    .max(max, `longer than ${max} characters`)
    .superRefine((s, ctx) => {
      const problem = textProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const httpUrl = text(LIMITS.url).refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an absolute http(s) URL');

const eventSchema = z.strictObject({
  id: z.string().regex(UUID, 'expected a UUID').optional(),
  type: z.enum(EVENT_KINDS as [EventKind, ...EventKind[]], { error: `expected one of ${EVENT_KINDS.join(', ')}` }),
  name: text(LIMITS.shortText).min(1, 'must not be empty').optional(),
  ts: z.union([z.number(), z.string()], { error: 'expected epoch milliseconds (number) or an ISO-8601 string' }).optional(),
  visitor: text(LIMITS.shortText).min(1, 'must not be empty').optional(),
  session: text(LIMITS.shortText).min(1, 'must not be empty').optional(),
  url: httpUrl,
  referrer: text(LIMITS.url).nullable().optional(),
  title: text(LIMITS.title).nullable().optional(),
  props: z
    .record(text(LIMITS.propKey).min(1, 'property names must not be empty'), z.union([text(LIMITS.propValue), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }))
    .refine((r) => Object.keys(r).length <= LIMITS.props, `more than ${LIMITS.props} properties`)
    .optional(),
  revenue: z.number().optional(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as EUR').optional(),
  screen_width: z.number().int('expected a whole number').min(0).max(100_000).optional(),
});

export type EventInputRaw = z.output<typeof eventSchema>;

/** A validated event, before the clock-skew policy and enrichment. */
export interface EventInput {
  id?: string;
  type: EventKind;
  name: string;
  /** Epoch ms the client claims; undefined when it sent none. */
  ts?: number;
  visitor?: string;
  session?: string;
  url: string;
  referrer: string | null;
  title: string | null;
  props: Record<string, string>;
  revenueMicros: number | null;
  currency: string | null;
  screenWidth: number | null;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `a string` : typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** One clear sentence per problem; the first one's path becomes the dead letter's field. */
function toRejection(error: z.ZodError, input: unknown): Outcome<never> {
  const parts: { field: string; message: string; code: DeadLetterCode }[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) parts.push({ field: path ? `${path}.${key}` : key, message: 'unknown field (custom data goes in props)', code: 'SCHEMA_VIOLATION' });
      continue;
    }
    const got = valueAt(input, issue.path);
    let message = issue.message;
    if (got === undefined && issue.code === 'invalid_type') message = 'required field is missing';
    else if (issue.code === 'invalid_type' || issue.code === 'invalid_union') message = `${message.startsWith('Invalid input') ? `expected ${'expected' in issue ? String(issue.expected) : 'another type'}` : message}, got ${describe(got)}`;
    parts.push({ field: path || '(root)', message, code: issue.code === 'too_big' ? 'SIZE_VIOLATION' : 'SCHEMA_VIOLATION' });
  }
  const first = parts[0]!;
  return deadLetter('validate', first.code, parts.map((p) => `${p.field}: ${p.message}`).join('; '), first.field);
}

/** Decimal amount → exact micro-units, via the number's shortest round-trip text (what the client wrote). */
export function toMicros(amount: number): number | string {
  if (!Number.isFinite(amount)) return 'expected a finite number';
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(amount));
  if (!m) return 'expected a decimal amount';
  const [, sign, int, frac = '', exp = '0'] = m;
  const shift = Number(exp);
  const digits = int! + frac;
  const decimals = frac.length - shift;
  if (decimals > LIMITS.revenueDecimals) return `more than ${LIMITS.revenueDecimals} decimal places`;
  const micros = BigInt(digits) * 10n ** BigInt(LIMITS.revenueDecimals - decimals);
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) return 'amount too large';
  return sign === '-' && micros !== 0n ? -Number(micros) : Number(micros);
}

/** Rules that span fields: names per type, revenue only with purchases. */
function crossFieldProblem(e: EventInputRaw): { field: string; message: string } | undefined {
  if (e.type === 'custom' && e.name === undefined) return { field: 'name', message: 'required for custom events' };
  if (e.type !== 'custom' && e.name !== undefined && e.name !== e.type) return { field: 'name', message: `must be "${e.type}" (or absent) for ${e.type} events` };
  if (e.type === 'purchase') {
    if (e.revenue === undefined) return { field: 'revenue', message: 'required for purchase events' };
    if (e.currency === undefined) return { field: 'currency', message: 'required with revenue' };
  } else {
    if (e.revenue !== undefined) return { field: 'revenue', message: 'only allowed on purchase events' };
    if (e.currency !== undefined) return { field: 'currency', message: 'only allowed on purchase events' };
  }
  return undefined;
}

/** Epoch ms from the `ts` field, or why it is not a time. */
export function parseTs(ts: number | string): number | string {
  if (typeof ts === 'number') return Number.isInteger(ts) && ts >= 0 ? ts : 'expected whole, non-negative epoch milliseconds';
  if (!ISO_TIME.test(ts)) return 'expected ISO-8601 with a time zone, e.g. 2025-01-31T12:00:00Z';
  const ms = Date.parse(ts);
  return Number.isNaN(ms) ? 'not a valid date' : ms;
}

/** Validates one parsed JSON value as an event. */
export function validateEvent(value: unknown): Outcome<EventInput> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return deadLetter('validate', 'SCHEMA_VIOLATION', `an event must be a JSON object, got ${describe(value)}`, '(root)');
  }
  const result = eventSchema.safeParse(value);
  if (!result.success) return toRejection(result.error, value);
  const e = result.data;
  const cross = crossFieldProblem(e);
  if (cross) return deadLetter('validate', 'SCHEMA_VIOLATION', `${cross.field}: ${cross.message}`, cross.field);
  let revenueMicros: number | null = null;
  if (e.revenue !== undefined) {
    const micros = toMicros(e.revenue);
    if (typeof micros === 'string') return deadLetter('validate', 'SCHEMA_VIOLATION', `revenue: ${micros}`, 'revenue');
    revenueMicros = micros;
  }
  const ts = e.ts === undefined ? undefined : parseTs(e.ts);
  if (typeof ts === 'string') return deadLetter('validate', 'SCHEMA_VIOLATION', `ts: ${ts}`, 'ts');
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.props ?? {})) props[k] = typeof v === 'string' ? v : String(v);
  return ok({
    ...(e.id === undefined ? {} : { id: e.id.toLowerCase() }),
    type: e.type,
    name: e.name ?? e.type,
    ...(ts === undefined ? {} : { ts }),
    ...(e.visitor === undefined ? {} : { visitor: e.visitor }),
    ...(e.session === undefined ? {} : { session: e.session }),
    url: e.url,
    referrer: e.referrer === undefined || e.referrer === '' ? null : e.referrer,
    title: e.title ?? null,
    props,
    revenueMicros,
    currency: e.currency ?? null,
    screenWidth: e.screen_width ?? null,
  });
}
