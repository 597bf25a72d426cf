import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobLedger, ledgerPath } from './jobs.ledger.ts';

const dirs: string[] = [];
function ledger(): JobLedger {
  const dir = mkdtempSync(join(tmpdir(), 'twinlane-ledger-'));
  dirs.push(dir);
  return JobLedger.inDataDir(dir);
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('JobLedger', () => {
  it('folds start and end entries into runs, newest first, and survives a reopen', async () => {
    const l = ledger();
    const a = await l.begin('batch', 'schedule', Date.UTC(2026, 0, 2, 2));
    await l.finish(a.id, { status: 'succeeded', attempts: 2, days: ['2026-01-01'], rows: 42, details: { watermark: 1 } });
    const b = await l.begin('compaction', 'manual');
    await l.close();

    const again = new JobLedger(l.file);
    const runs = await again.list();
    expect(runs.map((r) => r.id)).toEqual([b.id, a.id]);
    expect(runs[1]).toMatchObject({ job: 'batch', trigger: 'schedule', status: 'succeeded', attempts: 2, days: ['2026-01-01'], rows: 42, details: { watermark: 1 } });
    expect(runs[1]!.endedAt).toBeGreaterThanOrEqual(runs[1]!.startedAt);
    expect(runs[0]).toMatchObject({ job: 'compaction', status: 'running' });
    expect(await again.list({ job: 'batch' })).toHaveLength(1);
    expect(await again.list({ status: 'running' })).toHaveLength(1);
    expect((await again.get(a.id.slice(0, 8)))?.id).toBe(a.id);
    expect(await again.lastSlot('batch')).toBe(Date.UTC(2026, 0, 2, 2));
    expect(await again.lastSlot('compaction')).toBeUndefined();
    expect((await again.lastSuccess('batch'))?.id).toBe(a.id);
  });

  it('skips a torn last line left by a crash mid-write and keeps appending after it', async () => {
    const l = ledger();
    const a = await l.begin('retention', 'schedule');
    await l.finish(a.id, { status: 'failed', attempts: 3, error: 'disk full', errorCode: 'X' });
    await l.close();
    appendFileSync(l.file, '{"v":1,"kind":"start","id":"torn');
    const l2 = new JobLedger(l.file);
    expect(await l2.runs()).toHaveLength(1);
    expect(l2.skippedLines).toBe(1);
    // The next append starts on its own line even after the torn fragment.
    const b = await l2.begin('batch', 'manual');
    expect((await l2.runs()).map((r) => r.id)).toEqual([a.id, b.id]);
    expect((await l2.get(a.id))).toMatchObject({ status: 'failed', error: 'disk full', errorCode: 'X', attempts: 3 });
    await l2.close();
  });

  it('closes runs of a dead process as abandoned, and a later end never overwrites the first', async () => {
    const l = ledger();
    const mine = await l.begin('batch', 'schedule');
    // A run started by another (dead) process on this host.
    const foreign = { v: 1, kind: 'start', id: 'dead-run', job: 'compaction', trigger: 'schedule', startedAt: Date.now(), host: (await import('node:os')).hostname(), pid: 999_999 };
    appendFileSync(l.file, JSON.stringify(foreign) + '\n');
    const closed = await l.closeAbandoned((pid) => pid !== 999_999);
    expect(closed.map((r) => r.id)).toEqual(['dead-run']);
    await l.finish('dead-run', { status: 'succeeded', attempts: 1 });
    expect(await l.get('dead-run')).toMatchObject({ status: 'abandoned', errorCode: 'RUN_ABANDONED' });
    expect(await l.get(mine.id)).toMatchObject({ status: 'running' });
    expect(readFileSync(ledgerPath(join(l.file, '..', '..')), 'utf8').split('\n').filter(Boolean)).toHaveLength(4);
    await l.close();
  });

  it('reads an absent ledger as empty', async () => {
    expect(await ledger().runs()).toEqual([]);
  });
});
