/**
 * The format marker of DATA_DIR: a `DATA_FORMAT` file at its root (JSON `{format, writtenBy, at}`),
 * created once without ever being half-written (temp file, fsync, hard link under the final
 * name, which fails when another process linked first), and a lock file for the one migrator.
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DataFormatError, parseFormatMarker, type FormatMarker, type FormatMarkerStore } from './data-format.ts';
import { fsyncDir, writeFileAtomic } from './durable-fs.ts';
import { isAlive } from './processes.ts';

export const DATA_FORMAT_FILE = 'DATA_FORMAT';
const LOCK_FILE = '.DATA_FORMAT.lock';

/**
 * The folders the parts keep under DATA_DIR: the lake and the batch views (batch/), the
 * dead-letter store (dlq/, wired in apps/), the job ledger (orchestration/). Anything else in
 * DATA_DIR (logs, notes, dotfiles) is not Twinlane data and leaves it "empty".
 */
export const DATA_DIR_PARTS = ['lake', 'views', 'dlq', 'ledger'] as const;

/** True when the folder holds at least one file, at any depth (stops at the first). */
function holdsFile(dir: string): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  for (const e of entries) {
    if (e.isDirectory() ? holdsFile(join(dir, e.name)) : true) return true;
  }
  return false;
}

export class DataDirMarker implements FormatMarkerStore {
  readonly where: string;
  readonly path: string;

  constructor(readonly dataDir: string, private readonly parts: readonly string[] = DATA_DIR_PARTS) {
    this.where = `DATA_DIR ${resolve(dataDir)}`;
    this.path = join(dataDir, DATA_FORMAT_FILE);
  }

  async read(): Promise<FormatMarker | undefined> {
    if (!existsSync(this.path)) return undefined;
    return parseFormatMarker(readFileSync(this.path, 'utf8'), this.where);
  }

  async create(marker: FormatMarker): Promise<boolean> {
    mkdirSync(this.dataDir, { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}-${Date.now()}`;
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, JSON.stringify(marker) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
    fsyncDir(this.dataDir);
    return true;
  }

  async write(marker: FormatMarker): Promise<void> {
    writeFileAtomic(this.path, JSON.stringify(marker) + '\n');
  }

  async isEmpty(): Promise<boolean> {
    return !this.parts.some((p) => holdsFile(join(this.dataDir, p)));
  }

  /** A lock file naming its holder; one left by a process that is gone (same host) is taken over. */
  async lock(owner: string): Promise<() => Promise<void>> {
    mkdirSync(this.dataDir, { recursive: true });
    const path = join(this.dataDir, LOCK_FILE);
    const me = JSON.stringify({ owner, pid: process.pid, host: hostname() });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeFileSync(fd, me);
        } finally {
          closeSync(fd);
        }
        return async () => rmSync(path, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        let holder: { owner?: string; pid?: number; host?: string } = {};
        try {
          holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
        } catch {
          // Half-written by a holder that is starting right now: treated as held.
        }
        const gone = holder.host === hostname() && typeof holder.pid === 'number' && !isAlive(holder.pid);
        if (!gone || attempt > 0) {
          throw new DataFormatError('DATA_FORMAT_LOCKED', `${this.where} is being migrated by ${holder.owner ?? 'another process'} (pid ${holder.pid ?? '?'} on ${holder.host ?? '?'}); wait for it to finish, or remove ${path} if that process is gone`, this.where, null, 0, { retriable: true });
        }
        rmSync(path, { force: true });
      }
    }
    throw new Error('unreachable');
  }
}
