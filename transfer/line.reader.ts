/**
 * Lines of a file from a byte offset, each with the offset after it: files are read in 1 MiB
 * pieces (never whole), and an import resumes at the byte where its checkpoint stopped.
 */
import { createReadStream } from 'node:fs';

export interface Line {
  /** The line without its newline (and without a `\r` before it). */
  bytes: Buffer;
  /** Byte offset just after the line's newline: where the next line starts. */
  next: number;
  /** The line ended with `\r\n` (a quoted CSV field spanning lines keeps it). */
  crlf: boolean;
}

export async function* readLines(path: string, start = 0): AsyncGenerator<Line> {
  let rest: Buffer = Buffer.alloc(0);
  let offset = start;
  for await (const piece of createReadStream(path, { start, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf = rest.length ? Buffer.concat([rest, piece]) : piece;
    let at = 0;
    for (let nl = buf.indexOf(10, at); nl >= 0; nl = buf.indexOf(10, at)) {
      const end = nl > at && buf[nl - 1] === 13 ? nl - 1 : nl;
      offset += nl + 1 - at;
      yield { bytes: buf.subarray(at, end), next: offset, crlf: end !== nl };
      at = nl + 1;
    }
    rest = buf.subarray(at);
  }
  if (rest.length > 0) {
    offset += rest.length;
    yield { bytes: rest[rest.length - 1] === 13 ? rest.subarray(0, rest.length - 1) : rest, next: offset, crlf: false };
  }
}
