/**
 * PostgreSQL's COPY text format as `COPY … TO STDOUT` and `pg_dump` write it: tabs between fields,
 * `\N` for NULL, backslash escapes (`\t`, `\n`, `\\`, …, octal and hex bytes); and its timestamps.
 * Lines are written here as PostgreSQL would print them (String.raw: a backslash is a backslash).
 */
import { describe, expect, it } from 'vitest';
import { parsePgTextLine, parsePgTimestamp } from './pg-text.format.ts';

/** One line of fields, each as PostgreSQL prints it. */
const row = (...fields: string[]) => fields.join('\t');

describe('parsePgTextLine', () => {
  it('splits fields on tabs, keeps empty strings apart from NULL', () => {
    expect(parsePgTextLine('a\tb\t\tc')).toEqual(['a', 'b', '', 'c']);
    // Only a whole field of `\N` is NULL: inside one, `\N` is an escaped N.
    expect(parsePgTextLine(String.raw`a\N`)).toEqual(['aN']);
    expect(parsePgTextLine(row(String.raw`\N`, String.raw`x`, String.raw`\N`))).toEqual([null, 'x', null]);
    expect(parsePgTextLine('')).toEqual(['']);
    expect(parsePgTextLine('\t')).toEqual(['', '']);
  });

  it('reads the escapes of the reserved bytes', () => {
    expect(parsePgTextLine(row(String.raw`tab\there`, String.raw`line\nbreak`, String.raw`cr\rlf`, String.raw`back\\slash`))).toEqual(['tab\there', 'line\nbreak', 'cr\rlf', 'back\\slash']);
    expect(parsePgTextLine(String.raw`\b\f\v`)).toEqual(['\b\f\v']);
    // An escaped backslash before N is the text "\N", not NULL; a backslash before another character stands for it.
    expect(parsePgTextLine(row(String.raw`\\N`, String.raw`\q\.`, String.raw`\"`))).toEqual(['\\N', 'q.', '"']);
  });

  it('reads octal and hex escapes as bytes of UTF-8', () => {
    expect(parsePgTextLine(String.raw`\101\x42\103`)).toEqual(['ABC']);
    expect(parsePgTextLine(row(String.raw`caf\303\251`, String.raw`caf\xc3\xa9`, String.raw`\11x`))).toEqual(['café', 'café', '\tx']);
    // One or two hex digits, one to three octal digits; `\x` without a digit is an x.
    expect(parsePgTextLine(row(String.raw`\x4g`, String.raw`\1010`, String.raw`\xz`))).toEqual(['\x04g', 'A0', 'xz']);
    // An escaped backslash before digits leaves the digits as text.
    expect(parsePgTextLine(row(String.raw`\\101`, String.raw`\\x41`))).toEqual(['\\101', '\\x41']);
  });

  it('keeps non-ASCII text that is not escaped', () => {
    expect(parsePgTextLine('Grüße 🙂\t\\N')).toEqual(['Grüße 🙂', null]);
  });
});

describe('parsePgTimestamp', () => {
  it('reads timestamptz as PostgreSQL prints it, any offset, microseconds cut to milliseconds', () => {
    expect(parsePgTimestamp('2024-03-01 10:00:00+00')).toBe(Date.UTC(2024, 2, 1, 10));
    expect(parsePgTimestamp('2024-03-01 10:00:00.123456+00')).toBe(Date.UTC(2024, 2, 1, 10, 0, 0, 123));
    expect(parsePgTimestamp('2024-03-01 12:30:00.5+02:30')).toBe(Date.UTC(2024, 2, 1, 10, 0, 0, 500));
    expect(parsePgTimestamp('2024-03-01 05:00:00-05')).toBe(Date.UTC(2024, 2, 1, 10));
    expect(parsePgTimestamp('2024-03-01T10:00:00')).toBe(Date.UTC(2024, 2, 1, 10));
  });

  it('answers undefined for what is not a timestamp', () => {
    for (const t of ['', 'yesterday', '2024-03-01', '2024-03-01 10:00', '\\N']) expect(parsePgTimestamp(t), t).toBeUndefined();
  });
});
