/**
 * PII redaction for URLs, referrers, titles and property values: e-mail addresses (also
 * URL-encoded, `%40`) and card-like numbers (13–19 digits, optionally grouped by spaces or
 * dashes, passing the Luhn check). Long numeric ids that happen to pass Luhn are redacted too:
 * a false positive costs less than a stored card number.
 */
const EMAIL = /[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
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
