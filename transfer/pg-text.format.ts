/**
 * PostgreSQL's COPY text format (what `COPY … TO STDOUT` sends and what a plain-SQL `pg_dump`
 * holds between `COPY … FROM stdin;` and `\.`): one row per line, fields split by tabs, `\N` for
 * NULL, and backslash escapes for the bytes the format reserves. A raw newline or tab never occurs
 * inside a field, so lines and fields split without a state machine.
 */

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
const ESCAPE = /\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g;
const BYTE_ESCAPE = /\\(?:x[0-9a-fA-F]|[0-7])/;

/**
 * `\digits` (octal) and `\xdigits` (hex) name bytes, not characters: a field's bytes are
 * gathered and read as UTF-8 (the dump's encoding), so `\303\251` is `é`. Any other escaped
 * character stands for itself.
 */
function unescapeField(f: string): string {
  // A quick test: it also matches after an escaped backslash (`\\101`), which the full pass reads right.
  if (!BYTE_ESCAPE.test(f)) return f.replace(ESCAPE, (_m, e: string) => ESCAPES[e] ?? e);
  const parts: Buffer[] = [];
  let at = 0;
  for (const m of f.matchAll(ESCAPE)) {
    parts.push(Buffer.from(f.slice(at, m.index), 'utf8'));
    const e = m[1]!;
    if (e[0] === 'x' && e.length > 1) parts.push(Buffer.of(parseInt(e.slice(1), 16)));
    else if (/^[0-7]/.test(e)) parts.push(Buffer.of(parseInt(e, 8) & 0xff));
    else parts.push(Buffer.from(ESCAPES[e] ?? e, 'utf8'));
    at = m.index + m[0].length;
  }
  parts.push(Buffer.from(f.slice(at), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}

/** The fields of one line (without its newline); null for `\N`. */
export function parsePgTextLine(line: string): (string | null)[] {
  const fields: (string | null)[] = line.split('\t');
  if (!line.includes('\\')) return fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f === '\\N') fields[i] = null;
    else if (f.includes('\\')) fields[i] = unescapeField(f);
  }
  return fields;
}

const PG_TIMESTAMPTZ = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/**
 * Epoch ms of a timestamptz as PostgreSQL prints it (`2024-03-01 10:00:00.123456+00`, any
 * offset; no offset: UTC), microseconds cut to milliseconds; undefined when it is not one.
 */
export function parsePgTimestamp(text: string): number | undefined {
  const m = PG_TIMESTAMPTZ.exec(text);
  if (!m) return undefined;
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  const offset = m[8] ? (m[8] === '-' ? -1 : 1) * ((Number(m[9]) * 60 + Number(m[10] ?? 0)) * 60 + Number(m[11] ?? 0)) * 1000 : 0;
  return local - offset;
}
