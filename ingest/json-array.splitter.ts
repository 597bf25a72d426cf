/**
 * Finds the byte range of each element of a top-level JSON array, so a rejected event is
 * dead-lettered with its own original bytes. Runs only on bodies JSON.parse accepted, so it
 * needs no error handling: it tracks strings, escapes and nesting. Works on UTF-8 bytes
 * directly, since the bytes it looks for never occur inside a multi-byte sequence.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function splitJsonArray(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = body.indexOf(0x5b); // the opening '[' (after any whitespace or BOM)
  let depth = 0;
  let inString = false;
  let start = -1;
  const end = (at: number) => {
    let e = at;
    while (e > start && WHITESPACE.has(body[e - 1]!)) e--;
    if (start >= 0 && e > start) out.push(body.subarray(start, e));
    start = -1;
  };
  for (; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (depth === 1 && start < 0 && !WHITESPACE.has(c) && c !== COMMA && !CLOSE.has(c)) start = i;
    if (c === QUOTE) inString = true;
    else if (OPEN.has(c)) depth++;
    else if (CLOSE.has(c)) {
      if (depth === 1) {
        end(i);
        break;
      }
      depth--;
    } else if (c === COMMA && depth === 1) end(i);
  }
  return out;
}
