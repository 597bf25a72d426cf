/**
 * The durable job ledger: an append-only JSON-lines file under DATA_DIR (ledger/runs.jsonl).
 *
 * Why a file and not a database: the scheduler, `twinlane jobs`, the serving API and a second
 * scheduler all read and write it from separate processes. DuckDB holds an exclusive file lock
 * per writing process, Node 20 has no SQLite, and PostgreSQL would be a new service on every
 * machine. Appends of one line per write with O_APPEND never interleave on a local disk, each
 * append is fsynced before the call returns, a torn last line (crash mid-write) is skipped on
 * read, and the file is queryable as it is: `SELECT * FROM read_json_auto('data/ledger/runs.jsonl')`.
 *
 * A run is two entries, `start` and `end`; readers fold them by run id.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fsyncDir } from '../core/durable-fs.ts';
import { DependencyError } from '../core/errors.ts';
import { JOB_NAMES, type JobName, type JobRun, type RunStatus, type Trigger } from './types.ts';

export const LEDGER_FILE = 'ledger/runs.jsonl';

type StartEntry = { v: 1; kind: 'start'; id: string; job: JobName; trigger: Trigger; scheduledFor?: number; startedAt: number; host: string; pid: number };
type EndEntry = {
  v: 1;
  kind: 'end';
  id: string;
  endedAt: number;
  status: Exclude<RunStatus, 'running'>;
  attempts: number;
  days: string[];
  rows: number;
  error?: string;
  errorCode?: string;
  details: Record<string, unknown>;
};
type Entry = StartEntry | EndEntry;

export interface RunEnd {
  status: 'succeeded' | 'failed' | 'abandoned';
  attempts: number;
  days?: string[];
  rows?: number;
  error?: string;
  errorCode?: string;
  details?: Record<string, unknown>;
}

export interface ListFilter {
  job?: JobName;
  status?: RunStatus;
  /** Newest first; at most this many. */
  limit?: number;
}

export function ledgerPath(dataDir: string): string {
  return join(dataDir, LEDGER_FILE);
}

export class JobLedger {
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  /** Appends are serialised within a process so `end` never lands before its `start`. */
  private tail: Promise<void> = Promise.resolve();
  /** Lines that did not parse at the last read (a torn write); reported by `jobs list`. */
  skippedLines = 0;

  constructor(readonly file: string, private readonly clock: () => number = Date.now) {}

  static inDataDir(dataDir: string): JobLedger {
    return new JobLedger(ledgerPath(dataDir));
  }

  async begin(job: JobName, trigger: Trigger, scheduledFor?: number): Promise<JobRun> {
    const entry: StartEntry = { v: 1, kind: 'start', id: randomUUID(), job, trigger, startedAt: this.clock(), host: hostname(), pid: process.pid };
    if (scheduledFor !== undefined) entry.scheduledFor = scheduledFor;
    await this.append(entry);
    return fold([entry]).get(entry.id)!;
  }

  async finish(id: string, end: RunEnd): Promise<void> {
    const entry: EndEntry = {
      v: 1,
      kind: 'end',
      id,
      endedAt: this.clock(),
      status: end.status,
      attempts: end.attempts,
      days: end.days ?? [],
      rows: end.rows ?? 0,
      details: end.details ?? {},
    };
    if (end.error !== undefined) entry.error = end.error;
    if (end.errorCode !== undefined) entry.errorCode = end.errorCode;
    await this.append(entry);
  }

  /** Every run, oldest first. */
  async runs(): Promise<JobRun[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DependencyError('LEDGER_READ_FAILED', `cannot read the job ledger ${this.file}: ${(err as Error).message}`, err);
    }
    const entries: Entry[] = [];
    this.skippedLines = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const entry = parseEntry(line);
      if (entry) entries.push(entry);
      else this.skippedLines++;
    }
    return [...fold(entries).values()].sort((a, b) => a.startedAt - b.startedAt);
  }

  async list(filter: ListFilter = {}): Promise<JobRun[]> {
    const runs = (await this.runs()).filter((r) => (!filter.job || r.job === filter.job) && (!filter.status || r.status === filter.status)).reverse();
    return filter.limit === undefined ? runs : runs.slice(0, filter.limit);
  }

  /** A run by id or by a unique prefix of it (as `jobs list` prints them shortened). */
  async get(idOrPrefix: string): Promise<JobRun | undefined> {
    const matches = (await this.runs()).filter((r) => r.id === idOrPrefix || r.id.startsWith(idOrPrefix));
    return matches.length === 1 ? matches[0] : matches.find((r) => r.id === idOrPrefix);
  }

  async lastSuccess(job: JobName): Promise<JobRun | undefined> {
    return (await this.list({ job, status: 'succeeded', limit: 1 }))[0];
  }

  /** The latest cron slot any run of `job` was started for (scheduled or caught up), or undefined. */
  async lastSlot(job: JobName): Promise<number | undefined> {
    let last: number | undefined;
    for (const r of await this.runs()) if (r.job === job && r.scheduledFor !== undefined && (last === undefined || r.scheduledFor > last)) last = r.scheduledFor;
    return last;
  }

  /**
   * Runs left `running` by a process of this host that no longer exists (SIGKILL, power loss)
   * are closed as `abandoned`, so the ledger never shows a run as running forever.
   */
  async closeAbandoned(isAlive: (pid: number) => boolean): Promise<JobRun[]> {
    const host = hostname();
    const dead = (await this.runs()).filter((r) => r.status === 'running' && r.host === host && r.pid !== process.pid && !isAlive(r.pid));
    for (const r of dead) await this.finish(r.id, { status: 'abandoned', attempts: r.attempts, error: `process ${r.pid} ended while the run was in progress`, errorCode: 'RUN_ABANDONED' });
    return dead;
  }

  async close(): Promise<void> {
    await this.tail;
    const h = this.handle;
    this.handle = undefined;
    this.opening = undefined;
    await h?.close();
  }

  private append(entry: Entry): Promise<void> {
    const line = JSON.stringify(entry) + '\n';
    const write = this.tail.then(async () => {
      try {
        const h = await this.fileHandle();
        await h.write(line);
        await h.datasync();
      } catch (err) {
        throw new DependencyError('LEDGER_WRITE_FAILED', `cannot append to the job ledger ${this.file}: ${(err as Error).message}`, err);
      }
    });
    this.tail = write.catch(() => undefined);
    return write;
  }

  private fileHandle(): Promise<FileHandle> {
    if (this.handle) return Promise.resolve(this.handle);
    this.opening ??= (async () => {
      mkdirSync(dirname(this.file), { recursive: true });
      const h = await open(this.file, 'a+');
      // A crash mid-append can leave a torn last line: start ours on a fresh one.
      const { size } = await h.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await h.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) await h.write('\n');
      }
      // Make the new file's directory entry durable too.
      fsyncDir(dirname(this.file));
      this.handle = h;
      return h;
    })().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }
}

function parseEntry(line: string): Entry | undefined {
  try {
    const e = JSON.parse(line) as Entry;
    if (e.v !== 1 || typeof e.id !== 'string') return undefined;
    if (e.kind === 'start' && (JOB_NAMES as readonly string[]).includes(e.job) && typeof e.startedAt === 'number') return e;
    if (e.kind === 'end' && typeof e.endedAt === 'number' && typeof e.status === 'string') return e;
    return undefined;
  } catch {
    return undefined;
  }
}

function fold(entries: Entry[]): Map<string, JobRun> {
  const runs = new Map<string, JobRun>();
  const ends: EndEntry[] = [];
  for (const e of entries) {
    if (e.kind === 'start') {
      runs.set(e.id, {
        id: e.id,
        job: e.job,
        trigger: e.trigger,
        ...(e.scheduledFor === undefined ? {} : { scheduledFor: e.scheduledFor }),
        startedAt: e.startedAt,
        status: 'running',
        attempts: 0,
        days: [],
        rows: 0,
        details: {},
        host: e.host,
        pid: e.pid,
      });
    } else ends.push(e);
  }
  for (const e of ends) {
    const run = runs.get(e.id);
    // The first end wins: a late `abandoned` never overwrites a real outcome.
    if (!run || run.endedAt !== undefined) continue;
    Object.assign(run, { endedAt: e.endedAt, status: e.status, attempts: e.attempts, days: e.days, rows: e.rows, details: e.details });
    if (e.error !== undefined) run.error = e.error;
    if (e.errorCode !== undefined) run.errorCode = e.errorCode;
  }
  return runs;
}
