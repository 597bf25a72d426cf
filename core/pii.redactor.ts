/**
 * PII redaction for URLs, referrers, titles and property values: e-mail addresses (also
 * URL-encoded, `%40`) and card-like numbers (13–19 digits, optionally grouped by spaces or
 * dashes, passing the Luhn check). Long numeric ids that happen to pass Luhn are redacted too:
 * a false positive costs less than a stored card number; digits within a UUID are not a card.
 */
import { UUID_LENGTH, uuidAt } from './uuid.ts';

/**
 * Every quantifier is bounded by what an address can hold (RFC 5321: a local part of 64
 * characters, labels of 63, a few labels), and labels are split by a character they cannot
 * hold, so a match attempt does a bounded amount of work at each position: linear time over the
 * text, whatever it holds (an unbounded `+` before the `@` made `aaaa…@` quadratic: 0.15 s at
 * 10,000 characters, 0.68 s at 20,000, so about 17 s at 100,000; now 40 ms). A longer local part
 * has its last 64 characters redacted.
 */
const EMAIL = /[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,63}/g;
const CARD = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;

export const REDACTED_EMAIL = '[email]';
export const REDACTED_CARD = '[card]';

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Whether text[start, end) lies within a UUID: random hex, whose digit groups make a Luhn-valid
 * run of 13 digits or more in about one random UUID of 450. Redacted, such a run made an invalid
 * id (an event id in a dead letter could no longer be replayed). Tried only for a run that would
 * be redacted.
 */
function insideUuid(text: string, start: number, end: number): boolean {
  for (let s = Math.max(0, end - UUID_LENGTH); s <= start; s++) if (uuidAt(text, s)) return true;
  return false;
}

/** What a redaction took out: e-mail addresses and card numbers, counted. */
export interface Redactions {
  email: number;
  card: number;
}

/**
 * Cheap pre-checks keep the common case (nothing to redact, every URL, title and property the
 * collector takes) at one scan per pattern and no allocation.
 */
export function redactPii(text: string): string {
  if (!text.includes('@') && !text.includes('%40') && !/\d{4}/.test(text)) return text;
  return redactPiiCounting(text).text;
}

/** redactPii, adding how many of each it took out to `redactions` (a dead letter lists them). */
export function redactPiiCounting(text: string, redactions: Redactions = { email: 0, card: 0 }): { text: string; redactions: Redactions } {
  let out = text;
  if (out.includes('@') || out.includes('%40')) {
    out = out.replace(EMAIL, () => {
      redactions.email++;
      return REDACTED_EMAIL;
    });
  }
  if (/\d{4}/.test(out)) {
    out = out.replace(CARD, (m, at: number, whole: string) => {
      const digits = m.replace(/[ -]/g, '');
      if (digits.length < 13 || !luhnValid(digits) || insideUuid(whole, at, at + m.length)) return m;
      redactions.card++;
      return REDACTED_CARD;
    });
  }
  return { text: out, redactions };
}

export function redactNullable(text: string | null): string | null {
  return text === null ? null : redactPii(text);
}

/** The text fields of an event record a client controls (what the enricher redacts on the way in). */
const RECORD_TEXT_FIELDS = ['url', 'path', 'referrer', 'referrer_host', 'title', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'name'] as const;

/**
 * An event record with its client-controlled text redacted (fields of other types are left for
 * the schema check to refuse); property values too.
 */
export function redactRecord(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...record };
  for (const f of RECORD_TEXT_FIELDS) if (typeof out[f] === 'string') out[f] = redactPii(out[f] as string);
  const props = out.properties;
  if (props !== null && typeof props === 'object' && !Array.isArray(props)) {
    const redacted: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(props)) redacted[k] = typeof v === 'string' ? redactPii(v) : v;
    out.properties = redacted;
  }
  return out;
}
