import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../core/errors.ts';
import { runBatch } from './batch.job.ts';

describe('runBatch options', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('refuses an idle timeout under a minute before writing anything (visits are cut on visitor minutes)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tl-batch-opts-'));
    dirs.push(dataDir);
    const run = runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '256MB', threads: 1 }, sessionIdleMs: 59_999 } }, { dates: ['2026-03-14'] });
    await expect(run).rejects.toBeInstanceOf(UsageError);
    await expect(run).rejects.toThrow(/59999 ms; it must be at least a minute/);
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
