/** An NDJSON file of events in our importable shape: one JSON object per line; a line's number is its row number. */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { readLines } from './line.reader.ts';
import type { ImportSource, ResumePoint, SourceRow } from './types.ts';

/** `<byte offset>:<line number>` of the next line. */
function parsePosition(p: string | undefined): { offset: number; line: number } {
  if (!p) return { offset: 0, line: 0 };
  const [o, l] = p.split(':').map(Number);
  return { offset: o ?? 0, line: l ?? 0 };
}

export class NdjsonSource implements ImportSource {
  readonly identity: string;
  private at = 0;

  constructor(private readonly path: string) {
    const st = statSync(path);
    this.identity = `ndjson:${resolve(path)}:${st.size}:${Math.trunc(st.mtimeMs)}`;
  }

  async size(): Promise<{ unit: 'bytes'; total: number }> {
    return { unit: 'bytes', total: statSync(this.path).size };
  }

  progress(): number {
    return this.at;
  }

  async *rows(from: ResumePoint): AsyncIterable<SourceRow> {
    let { offset, line } = parsePosition(from.position);
    let rows = from.rows;
    this.at = offset;
    for await (const l of readLines(this.path, offset)) {
      line++;
      offset = l.next;
      this.at = offset;
      const text = l.bytes.toString('utf8').replace(/^\uFEFF/, '');
      if (text.trim() === '') continue;
      rows++;
      const bytes = Buffer.from(l.bytes);
      let record: SourceRow['record'];
      try {
        const value: unknown = JSON.parse(text);
        record = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { unreadable: `line ${line} is JSON but not an object` };
      } catch (err) {
        record = { unreadable: `line ${line} is not valid JSON: ${(err as Error).message}` };
      }
      yield { row: line, record, raw: () => bytes, resume: { rows, position: `${offset}:${line}` } };
    }
  }

  async close(): Promise<void> {}
}
