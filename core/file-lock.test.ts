import { mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireFileLock, type FileLockOptions } from './file-lock.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function lockPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-file-lock-'));
  dirs.push(dir);
  return join(dir, 'sub', '.lock');
}

const busy: FileLockOptions['busy'] = (h) => new Error(`busy pid=${h.pid ?? '-'}`);

describe('acquireFileLock', () => {
  it('admits one holder at a time and frees the lock on release', () => {
    const path = lockPath();
    const release = acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy });
    expect(readFileSync(path, 'utf8')).toBe(String(process.pid));
    expect(() => acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy })).toThrow(`busy pid=${process.pid}`);
    release();
    release();
    expect(existsSync(path)).toBe(false);
    acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy })();
  });

  it('takes over a lock whose holder process is gone, or one without a PID', () => {
    const path = lockPath();
    acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy });
    writeFileSync(path, '2147483646'); // no such process
    const release = acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy });
    expect(readFileSync(path, 'utf8')).toBe(String(process.pid));
    release();
    acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy });
    writeFileSync(path, '');
    expect(() => acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy })).not.toThrow();
  });

  it('judges a lock by its age under the older-than rule, whatever PID it holds', () => {
    const path = lockPath();
    const rule = { kind: 'older-than', ms: 60_000 } as const;
    acquireFileLock(path, { stale: rule, busy });
    expect(() => acquireFileLock(path, { stale: rule, busy })).toThrow('busy');
    const old = new Date(Date.now() - 120_000);
    utimesSync(path, old, old);
    expect(() => acquireFileLock(path, { stale: rule, busy })).not.toThrow();
  });
});
