/**
 * The one way a value enters ClickHouse SQL text. ClickHouse 18.16 has no server-side query
 * parameters (`param_…` is an unknown setting there), so the few values our statements need
 * (a partition id, a day's bounds, a database or table name) are validated first, then quoted
 * here. Bulk data never goes through SQL text: it is streamed as CSV in the request body.
 *
 * String literals: single quotes, with `\` and `'` escaped by a backslash and the control
 * characters ClickHouse's lexer knows (\0 \b \f \n \r \t) written as escapes, so a literal
 * stays on one line and no byte of the value can end it early. Every other character, Unicode
 * included, passes as UTF-8. Both ClickHouse 18.16 and current releases read these escapes.
 */
import { UsageError } from '../core/errors.ts';

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

const NEEDS_ESCAPE = /[\\'\0\b\f\n\r\t]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A ClickHouse string literal holding exactly `value`. */
export function quoteString(value: string): string {
  if (typeof value !== 'string') throw new UsageError('SQL_QUOTE_NOT_STRING', `only strings are quoted into SQL, got ${typeof value}`);
  // A lone surrogate has no UTF-8 form: it would reach the server as U+FFFD, another value.
  if (LONE_SURROGATE.test(value)) throw new UsageError('SQL_QUOTE_MALFORMED', 'a string with a lone UTF-16 surrogate cannot be quoted into SQL');
  return `'${value.replace(NEEDS_ESCAPE, (c) => ESCAPES[c]!)}'`;
}

/** Names of databases, tables and columns we create: plain identifiers only. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A validated identifier in backquotes (safe for keywords too). */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new UsageError('SQL_BAD_IDENTIFIER', `"${name}" is not a valid ClickHouse name (expected letters, digits and _, starting with a letter or _)`);
  return `\`${name}\``;
}

/** `database`.`table`, both validated. */
export function qualifiedName(database: string, table: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Checks a YYYY-MM-DD day (a real calendar day) and returns it. */
export function validDay(day: string): string {
  const m = DAY.exec(day);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== day) throw new UsageError('BAD_DAY', `"${day}" is not a day (expected YYYY-MM-DD)`);
  return day;
}

/** The partition id of a day in the events table (PARTITION BY toYYYYMMDD(event_time)), quoted. */
export function dayPartition(day: string): string {
  return quoteString(validDay(day).replaceAll('-', ''));
}
