/**
 * PII redaction for URLs, referrers, titles and property values: e-mail addresses (also
 * URL-encoded, `%40`) and card-like numbers (13–19 digits, optionally grouped by spaces or
 * dashes, passing the Luhn check). Long numeric ids that happen to pass Luhn are redacted too:
 * a false positive costs less than a stored card number.
 */
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

/** Cheap pre-checks keep the common case (nothing to redact) at one scan per pattern. */
export function redactPii(text: string): string {
  let out = text;
  if (out.includes('@') || out.includes('%40')) out = out.replace(EMAIL, REDACTED_EMAIL);
  if (/\d{4}/.test(out)) {
    out = out.replace(CARD, (m) => {
      const digits = m.replace(/[ -]/g, '');
      return digits.length >= 13 && luhnValid(digits) ? REDACTED_CARD : m;
    });
  }
  return out;
}

export function redactNullable(text: string | null): string | null {
  return text === null ? null : redactPii(text);
}
