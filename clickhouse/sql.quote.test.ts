import { describe, expect, it } from 'vitest';
import { dayPartition, qualifiedName, quoteIdentifier, quoteString, validDay } from './sql.quote.ts';

/**
 * Reads a literal back the way ClickHouse's lexer does (a backslash escapes the next character;
 * \0 \b \f \n \r \t are control characters), and checks nothing follows the closing quote.
 */
function readLiteral(sql: string): string {
  expect(sql[0]).toBe("'");
  const controls: Record<string, string> = { '0': '\0', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  let out = '';
  for (let i = 1; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === '\\') {
      const n = sql[++i]!;
      out += controls[n] ?? n;
    } else if (c === "'") {
      expect(i, 'the literal ends at its last character').toBe(sql.length - 1);
      return out;
    } else out += c;
  }
  throw new Error(`unterminated literal: ${sql}`);
}

describe('quoteString', () => {
  it('escapes quotes and backslashes', () => {
    expect(quoteString("it's")).toBe("'it\\'s'");
    expect(quoteString('a\\b')).toBe("'a\\\\b'");
    expect(quoteString("\\'")).toBe("'\\\\\\''");
    expect(quoteString("''")).toBe("'\\'\\''");
    expect(quoteString('')).toBe("''");
  });

  it('writes NUL and line breaks as escapes, so a literal stays on one line', () => {
    expect(quoteString('a\0b')).toBe("'a\\0b'");
    expect(quoteString('x\ny\r\tz\b\f')).toBe("'x\\ny\\r\\tz\\b\\f'");
    expect(quoteString('a\0b')).not.toContain('\0');
  });

  it('passes Unicode through unchanged', () => {
    for (const s of ['Grüße', '日本語', '🙂 emoji', 'Ελληνικά', '\u00a0\u2028\u2029']) expect(quoteString(s)).toBe(`'${s}'`);
  });

  it('refuses a lone surrogate, which has no UTF-8 form', () => {
    expect(() => quoteString('a\uD800b')).toThrowError(/lone UTF-16 surrogate/);
    expect(() => quoteString('\uDC00')).toThrowError(/lone UTF-16 surrogate/);
    expect(quoteString('\uD83D\uDE42')).toBe("'🙂'");
  });

  it('refuses what is not a string', () => {
    expect(() => quoteString(42 as unknown as string)).toThrowError(/only strings/);
  });

  it('round-trips every troublesome value, in linear time for very long strings', () => {
    const hostile = ["'; DROP TABLE events; --", "\\'; SELECT 1 --", "a\\", "\\\\'", "'\\0'", 'tab\there', '\u0000\u0001\u007f', "x'||'y"];
    for (const s of hostile) expect(readLiteral(quoteString(s))).toBe(s);
    const long = "ab'\\\0ü".repeat(100_000); // 600,000 characters, over twice ClickHouse's default max_query_size
    const t0 = performance.now();
    const q = quoteString(long);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(q.length).toBe(long.length + 3 * 100_000 + 2);
    expect(readLiteral(q)).toBe(long);
  });
});

describe('identifiers and days', () => {
  it('quotes only plain identifiers', () => {
    expect(quoteIdentifier('events')).toBe('`events`');
    expect(qualifiedName('twinlane', 'events_staging_20260314_ab12')).toBe('`twinlane`.`events_staging_20260314_ab12`');
    for (const bad of ['', '1abc', 'a-b', 'a`b', 'a b', 'db.t', 'x'.repeat(129), 'é']) expect(() => quoteIdentifier(bad), bad).toThrowError(/not a valid ClickHouse name/);
  });

  it('accepts real calendar days only, and quotes their partition id', () => {
    expect(validDay('2026-03-14')).toBe('2026-03-14');
    for (const bad of ['2026-02-30', '2026-3-14', "2026-03-14' OR 1", '', '20260314']) expect(() => validDay(bad), bad).toThrowError(/is not a day/);
    expect(dayPartition('2026-03-14')).toBe("'20260314'");
  });
});
