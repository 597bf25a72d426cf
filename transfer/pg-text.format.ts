/**
 * PostgreSQL's COPY text format (what `COPY … TO STDOUT` sends and what a plain-SQL `pg_dump`
 * holds between `COPY … FROM stdin;` and `\.`): one row per line, fields split by tabs, `\N` for
 * NULL, and backslash escapes for the bytes the format reserves. A raw newline or tab never occurs
 * inside a field, so lines and fields split without a state machine.
 */

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function unescapeField(f: string): string {
  return f.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
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
