/**
 * The public event JSON (documented in ingest/README.md) and its validation. Strict on
 * purpose: an unknown field, a wrong type or a string with a NUL character is rejected with
 * the field's path, never silently dropped or coerced.
 */
import { EVENT_KINDS, type EventKind } from '../schemas/index.ts';
import { deadLetter, ok, type DeadLetterCode, type Outcome } from '../dlq/index.ts';
import { isUuid } from '../core/uuid.ts';

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

/** ISO-8601 with a date, a time and an explicit zone, so there is no guessing. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const ANY_SURROGATE = /[\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A NUL character or a lone surrogate cannot be stored faithfully (Avro strings are UTF-8). */
function unicodeProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character';
  // The cheap test first: most text has no surrogate (astral character) at all.
  if (ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

type Problem = { field: string; message: string; code: DeadLetterCode };

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : typeof value;
}

/**
 * Checks one string field; returns its problem or undefined. Written by hand rather than with
 * a schema library: this runs for every event and was the collector's hottest path.
 */
function textProblem(field: string, v: unknown, max: number, min = 0): Problem | undefined {
  if (typeof v !== 'string') return { field, message: `expected string, got ${describe(v)}`, code: 'SCHEMA_VIOLATION' };
  if (v.length > max) return { field, message: `longer than ${max} characters`, code: 'SIZE_VIOLATION' };
  if (v.length < min) return { field, message: 'must not be empty', code: 'SCHEMA_VIOLATION' };
  const problem = unicodeProblem(v);
  return problem ? { field, message: problem, code: 'SCHEMA_VIOLATION' } : undefined;
}

function isHttpUrl(s: string): boolean {
  if (!s.startsWith('http://') && !s.startsWith('https://')) return false;
  return URL.canParse(s);
}

const FIELDS = ['id', 'type', 'name', 'ts', 'visitor', 'session', 'url', 'referrer', 'title', 'props', 'revenue', 'currency', 'screen_width'] as const;
const KNOWN = new Set<string>(FIELDS);
const KINDS = new Set<string>(EVENT_KINDS);
type Raw = Partial<Record<(typeof FIELDS)[number], unknown>>;

function propsProblems(v: unknown, out: Problem[]): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    out.push({ field: 'props', message: `expected an object, got ${describe(v)}`, code: 'SCHEMA_VIOLATION' });
    return;
  }
  const entries = Object.entries(v);
  if (entries.length > LIMITS.props) out.push({ field: 'props', message: `more than ${LIMITS.props} properties`, code: 'SIZE_VIOLATION' });
  for (const [k, value] of entries) {
    const keyProblem = textProblem(`props.${k}`, k, LIMITS.propKey, 1);
    if (keyProblem) out.push({ ...keyProblem, message: `property name ${keyProblem.message}` });
    if (typeof value === 'string') {
      const p = textProblem(`props.${k}`, value, LIMITS.propValue);
      if (p) out.push(p);
    } else if (!(typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
      out.push({ field: `props.${k}`, message: `expected a string, number or boolean, got ${describe(value)}`, code: 'SCHEMA_VIOLATION' });
    }
  }
}

function optionalText(e: Raw, field: 'name' | 'visitor' | 'session', out: Problem[]): void {
  if (e[field] === undefined) return;
  const p = textProblem(field, e[field], LIMITS.shortText, 1);
  if (p) out.push(p);
}

function nullableText(e: Raw, field: 'referrer' | 'title', max: number, out: Problem[]): void {
  if (e[field] === undefined || e[field] === null) return;
  const p = textProblem(field, e[field], max);
  if (p) out.push(p);
}

function urlProblem(v: unknown): Problem | undefined {
  if (v === undefined) return { field: 'url', message: 'required field is missing', code: 'SCHEMA_VIOLATION' };
  const p = textProblem('url', v, LIMITS.url);
  if (p) return p;
  return isHttpUrl(v as string) ? undefined : { field: 'url', message: 'expected an absolute http(s) URL', code: 'SCHEMA_VIOLATION' };
}

function typeProblem(v: unknown): Problem | undefined {
  if (v === undefined) return { field: 'type', message: 'required field is missing', code: 'SCHEMA_VIOLATION' };
  if (typeof v !== 'string' || !KINDS.has(v)) return { field: 'type', message: `expected one of ${EVENT_KINDS.join(', ')}`, code: 'SCHEMA_VIOLATION' };
  return undefined;
}

function numberProblems(e: Raw, out: Problem[]): void {
  if (e.revenue !== undefined && typeof e.revenue !== 'number') out.push({ field: 'revenue', message: `expected number, got ${describe(e.revenue)}`, code: 'SCHEMA_VIOLATION' });
  if (e.currency !== undefined && (typeof e.currency !== 'string' || !/^[A-Z]{3}$/.test(e.currency))) out.push({ field: 'currency', message: 'expected an ISO 4217 code such as EUR', code: 'SCHEMA_VIOLATION' });
  const w = e.screen_width;
  if (w === undefined) return;
  if (typeof w !== 'number') out.push({ field: 'screen_width', message: `expected number, got ${describe(w)}`, code: 'SCHEMA_VIOLATION' });
  else if (!Number.isInteger(w) || w < 0 || w > 100_000) out.push({ field: 'screen_width', message: 'expected a whole number from 0 to 100000', code: 'SCHEMA_VIOLATION' });
}

/** Every problem of the event, in field order, unknown fields last. */
function problemsOf(e: Raw): Problem[] {
  const out: Problem[] = [];
  if (e.id !== undefined && (typeof e.id !== 'string' || !isUuid(e.id))) out.push({ field: 'id', message: typeof e.id === 'string' ? 'expected a UUID' : `expected string, got ${describe(e.id)}`, code: 'SCHEMA_VIOLATION' });
  const type = typeProblem(e.type);
  if (type) out.push(type);
  optionalText(e, 'name', out);
  if (e.ts !== undefined && typeof e.ts !== 'number' && typeof e.ts !== 'string') out.push({ field: 'ts', message: `expected epoch milliseconds (number) or an ISO-8601 string, got ${describe(e.ts)}`, code: 'SCHEMA_VIOLATION' });
  optionalText(e, 'visitor', out);
  optionalText(e, 'session', out);
  const url = urlProblem(e.url);
  if (url) out.push(url);
  nullableText(e, 'referrer', LIMITS.url, out);
  nullableText(e, 'title', LIMITS.title, out);
  if (e.props !== undefined) propsProblems(e.props, out);
  numberProblems(e, out);
  for (const key in e) if (!KNOWN.has(key)) out.push({ field: key, message: 'unknown field (custom data goes in props)', code: 'SCHEMA_VIOLATION' });
  return out;
}

/** A validated event, before the clock-skew policy and enrichment. */
export interface EventInput {
  id: string | undefined;
  type: EventKind;
  name: string;
  /** Epoch ms the client claims; undefined when it sent none. */
  ts: number | undefined;
  visitor: string | undefined;
  session: string | undefined;
  url: string;
  referrer: string | null;
  title: string | null;
  props: Record<string, string>;
  revenueMicros: number | null;
  currency: string | null;
  screenWidth: number | null;
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
function crossFieldProblem(e: { type: EventKind; name?: string; revenue?: number; currency?: string }): { field: string; message: string } | undefined {
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
  const problems = problemsOf(value as Raw);
  if (problems.length > 0) {
    const first = problems[0]!;
    return deadLetter('validate', first.code, problems.map((p) => `${p.field}: ${p.message}`).join('; '), first.field);
  }
  const e = value as { id?: string; type: EventKind; name?: string; ts?: number | string; visitor?: string; session?: string; url: string; referrer?: string | null; title?: string | null; props?: Record<string, string | number | boolean>; revenue?: number; currency?: string; screen_width?: number };
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
  if (e.props) for (const k in e.props) props[k] = String(e.props[k]);
  // One object shape for every event (no conditional spreads): keeps this path monomorphic.
  return ok({
    id: e.id === undefined ? undefined : e.id.toLowerCase(),
    type: e.type,
    name: e.name ?? e.type,
    ts,
    visitor: e.visitor,
    session: e.session,
    url: e.url,
    referrer: e.referrer === undefined || e.referrer === '' ? null : e.referrer,
    title: e.title ?? null,
    props,
    revenueMicros,
    currency: e.currency ?? null,
    screenWidth: e.screen_width ?? null,
  });
}
