/**
 * Exclusive lock files: one process at a time per folder for work that must not run twice at
 * once (a batch run over the views folder, a replay of the dead-letter store). The lock is a
 * file created with O_EXCL holding the holder's PID; a lock left behind (its holder gone, or
 * older than any run, as its user decides) is taken over, so a SIGKILLed run never blocks the
 * next one for good.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isAlive } from './processes.ts';

/** Who holds a lock, as far as the lock file tells. */
export interface LockHolder {
  path: string;
  /** PID written by the holder; undefined for a lock file without one. */
  pid?: number;
  /** How long ago the lock file was written (ms). */
  ageMs: number;
}

/**
 * When a lock left behind may be taken over: when its holder process no longer runs (a lock of
 * this machine), or once it is older than any run could be (a folder other machines may share,
 * where a PID says nothing).
 */
export type StaleLockRule = { kind: 'holder-gone' } | { kind: 'older-than'; ms: number };

export interface FileLockOptions {
  stale: StaleLockRule;
  /** The error thrown while a live holder has the lock (each user has its own code and advice). */
  busy: (holder: LockHolder) => Error;
}

/** Takes the lock at `path` or throws `busy`; returns the release (safe to call twice). */
export function acquireFileLock(path: string, options: FileLockOptions): () => void {
  mkdirSync(dirname(path), { recursive: true });
  // Two tries: the second follows the removal of a stale lock, and loses only to a racing taker.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      if (holder && !isStale(holder, options.stale)) throw options.busy(holder);
      rmSync(path, { force: true });
    }
  }
  throw options.busy(readHolder(path) ?? { path, ageMs: 0 });
}

/** The holder recorded in a lock file; undefined when the file went away meanwhile. */
function readHolder(path: string): LockHolder | undefined {
  try {
    const ageMs = Date.now() - statSync(path).mtimeMs;
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? { path, pid, ageMs } : { path, ageMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(holder: LockHolder, rule: StaleLockRule): boolean {
  if (rule.kind === 'older-than') return holder.ageMs >= rule.ms;
  return holder.pid === undefined || !isAlive(holder.pid);
}
