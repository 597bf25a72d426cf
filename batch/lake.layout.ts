/**
 * Contract 4, the lake's layout: `lake/events/dt=YYYY-MM-DD/hour=HH/<file>.parquet`, partitioned
 * by event time (UTC). A file name carries its topic, partition and offset range
 * (`<topic>~p<partition>~o<first>-<last>.parquet`, offsets zero-padded so names sort), so the same
 * range written twice lands under the same name.
 */
import { join } from 'node:path';
import { UsageError } from '../core/errors.ts';

export const DAY_MS = 86_400_000;

export interface LakePaths {
  root: string;
  events: string;
  /** In-flight roll markers, one per partition and range, removed once offsets are committed. */
  inflight: string;
  /** Scratch space for files being written (same file system, so rename is atomic). */
  tmp: string;
}

export function lakePaths(dataDir: string): LakePaths {
  const root = join(dataDir, 'lake');
  return { root, events: join(root, 'events'), inflight: join(root, '_inflight'), tmp: join(root, '_tmp') };
}

export interface LakeFileName {
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
}

const OFFSET_DIGITS = 19;
const FILE_RE = /^(.+)~p(\d+)~o(\d+)-(\d+)(?:~c)?\.parquet$/;

export function lakeFileName(f: LakeFileName): string {
  return `${f.topic}~p${f.partition}~o${f.first.toString().padStart(OFFSET_DIGITS, '0')}-${f.last.toString().padStart(OFFSET_DIGITS, '0')}.parquet`;
}

/** Undefined for files not written by the archiver (a compacted file or a foreign writer's). */
export function parseLakeFileName(name: string): LakeFileName | undefined {
  const m = FILE_RE.exec(name);
  if (!m) return undefined;
  return { topic: m[1]!, partition: Number(m[2]), first: BigInt(m[3]!), last: BigInt(m[4]!) };
}

/**
 * Files an import of history wrote (transfer/) start with this: their "topic" is `import~<id>`
 * (`~` is not allowed in a Kafka topic name, so no topic's files can look like them). Compaction
 * leaves them alone, so the lake can always tell imported history from live tracking.
 */
export const IMPORT_FILE_PREFIX = 'import~';

export function isImportFile(name: string): boolean {
  return name.slice(name.lastIndexOf('/') + 1).startsWith(IMPORT_FILE_PREFIX);
}

export function hourDir(events: string, day: string, hour: number): string {
  return join(events, `dt=${day}`, `hour=${String(hour).padStart(2, '0')}`);
}

export function dayDir(events: string, day: string): string {
  return join(events, `dt=${day}`);
}

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses YYYY-MM-DD into the UTC midnight (ms); a clear UsageError otherwise. */
export function parseDay(text: string): number {
  const m = DAY_RE.exec(text);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!m || Number.isNaN(t) || formatDay(t) !== text) throw new UsageError('BAD_DATE', `"${text}" is not a date: expected YYYY-MM-DD (UTC), e.g. 2026-03-14`);
  return t;
}

export function formatDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** Every day from `from` to `to`, both included (YYYY-MM-DD). */
export function daysBetween(from: string, to: string): string[] {
  const a = parseDay(from);
  const b = parseDay(to);
  if (b < a) throw new UsageError('BAD_DATE_RANGE', `--to ${to} is before --from ${from}`);
  const out: string[] = [];
  for (let t = a; t <= b; t += DAY_MS) out.push(formatDay(t));
  return out;
}
