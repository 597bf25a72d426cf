import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_FORMAT_FILE, DataDirMarker } from './data-dir.marker.ts';
import {
  DATA_DIR_FORMAT,
  DataFormatError,
  UNMARKED_FORMAT,
  checkDataFormat,
  inspectDataFormat,
  twinlaneVersion,
  type FormatKind,
  type FormatMarker,
  type FormatMarkerStore,
  type FormatMode,
} from './data-format.ts';

/** An in-memory store: a marker, whether it holds data, and a lock. */
class FakeStore implements FormatMarkerStore {
  readonly where = 'fake store';
  locked = false;
  writes: FormatMarker[] = [];
  /** Another process creates a marker between this one's read and its create. */
  raceWith: FormatMarker | undefined;
  constructor(public marker: FormatMarker | undefined, public hasData: boolean) {}
  async read() {
    return this.marker;
  }
  async create(m: FormatMarker) {
    if (this.raceWith) {
      this.marker = this.raceWith;
      this.raceWith = undefined;
    }
    if (this.marker) return false;
    this.marker = m;
    this.writes.push(m);
    return true;
  }
  async write(m: FormatMarker) {
    this.marker = m;
    this.writes.push(m);
  }
  async isEmpty() {
    return !this.hasData;
  }
  async lock() {
    if (this.locked) throw new DataFormatError('DATA_FORMAT_LOCKED', 'held', this.where, null, 0, { retriable: true });
    this.locked = true;
    return async () => void (this.locked = false);
  }
}

const at = (format: number): FormatMarker => ({ format, writtenBy: 'test (twinlane 0.0.0)', at: '2026-01-01T00:00:00.000Z' });

/** Format 3 today; migrations registered from 1 and from 2 (a fake table, the real ones are empty). */
function kind(migrations: FormatKind<string[]>['migrations'] = { 1: async (log) => void log.push('1→2'), 2: async (log) => void log.push('2→3') }): FormatKind<string[]> {
  return { name: 'fake', current: 3, migrations, withoutMigration: (found) => `no way from ${found}: rebuild it` };
}

async function check(store: FakeStore, mode: FormatMode, k = kind(), log: string[] = []) {
  return checkDataFormat({ store, kind: k, context: log, mode, role: 'unit', now: () => Date.UTC(2026, 0, 2) });
}

describe('checkDataFormat: the decision table', () => {
  it('an empty store gets the current format, written by this process', async () => {
    const store = new FakeStore(undefined, false);
    expect(await check(store, 'refuse')).toMatchObject({ action: 'created', found: null, format: 3 });
    expect(store.marker).toEqual({ format: 3, writtenBy: `unit (${twinlaneVersion()})`, at: '2026-01-02T00:00:00.000Z' });
  });

  it('the current format passes and writes nothing', async () => {
    const store = new FakeStore(at(3), true);
    expect(await check(store, 'refuse')).toMatchObject({ action: 'current', found: 3 });
    expect(store.writes).toEqual([]);
  });

  it('unmarked data of the current format is adopted: the marker is written, also by a service', async () => {
    const store = new FakeStore(undefined, true);
    const k = { ...kind(), current: UNMARKED_FORMAT };
    expect(await check(store, 'refuse', k)).toMatchObject({ action: 'adopted', found: UNMARKED_FORMAT });
    expect(store.marker?.format).toBe(UNMARKED_FORMAT);
  });

  it('an older format is migrated step by step by a migrator, with a marker after each step', async () => {
    const store = new FakeStore(at(1), true);
    const log: string[] = [];
    expect(await check(store, 'migrate', kind(), log)).toMatchObject({ action: 'migrated', found: 1, format: 3, steps: [1, 2] });
    expect(log).toEqual(['1→2', '2→3']);
    expect(store.writes.map((w) => w.format)).toEqual([2, 3]);
    expect(store.locked).toBe(false);
  });

  it('unmarked data older than the current format counts as format 1 and is migrated from there', async () => {
    const store = new FakeStore(undefined, true);
    const log: string[] = [];
    expect(await check(store, 'migrate', kind(), log)).toMatchObject({ action: 'migrated', found: 1, steps: [1, 2] });
    expect(log).toEqual(['1→2', '2→3']);
  });

  it('a service refuses an older format, naming both formats and `twinlane data migrate`', async () => {
    const store = new FakeStore(at(2), true);
    const err = await check(store, 'refuse').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err).toMatchObject({ code: 'DATA_FORMAT_OLDER', found: 2, expected: 3, retriable: false });
    expect((err as Error).message).toMatch(/fake store holds data format 2 \(written by test .*\); .* needs fake format 3: stop the Twinlane services and run `twinlane data migrate`/);
    expect(store.writes).toEqual([]);
  });

  it('without a registered path of migrations, even a migrator refuses, saying what to do instead', async () => {
    const store = new FakeStore(at(1), true);
    const log: string[] = [];
    const err = await check(store, 'migrate', kind({ 2: async (l) => void l.push('2→3') }), log).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DATA_FORMAT_NO_MIGRATION', found: 1, expected: 3 });
    expect((err as Error).message).toMatch(/no way from 1: rebuild it/);
    expect(log).toEqual([]);
  });

  it('a newer format is refused in every mode: from a newer Twinlane, upgrade', async () => {
    for (const mode of ['refuse', 'migrate'] as const) {
      const err = await check(new FakeStore(at(9), true), mode).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DATA_FORMAT_NEWER', found: 9, expected: 3 });
      expect((err as Error).message).toMatch(/holds data format 9 .*, from a newer Twinlane: .*reads fake format 3 only; upgrade Twinlane/);
    }
  });

  it('two processes starting on an empty store: the one that loses the create reads the winner\'s marker', async () => {
    const store = new FakeStore(undefined, false);
    store.raceWith = at(3);
    expect(await check(store, 'refuse')).toMatchObject({ action: 'current', found: 3 });
    const newer = new FakeStore(undefined, false);
    newer.raceWith = at(4);
    await expect(check(newer, 'refuse')).rejects.toMatchObject({ code: 'DATA_FORMAT_NEWER' });
  });

  it('a migration that fails leaves the marker at the last step done, and the lock free', async () => {
    const store = new FakeStore(at(1), true);
    const k = kind({ 1: async () => undefined, 2: async () => Promise.reject(new Error('disk full')) });
    await expect(check(store, 'migrate', k)).rejects.toThrow('disk full');
    expect(store.marker?.format).toBe(2);
    expect(store.locked).toBe(false);
  });

  it('a migration already running elsewhere stops a second migrator (retriable)', async () => {
    const store = new FakeStore(at(1), true);
    store.locked = true;
    await expect(check(store, 'migrate')).rejects.toMatchObject({ code: 'DATA_FORMAT_LOCKED', retriable: true });
  });
});

describe('DataDirMarker: DATA_FORMAT at the root of DATA_DIR', () => {
  const dirs: string[] = [];
  const temp = () => {
    const d = mkdtempSync(join(tmpdir(), 'twinlane-format-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const dataDirKind: FormatKind<null> = { name: 'DATA_DIR', current: DATA_DIR_FORMAT, migrations: {}, withoutMigration: () => 'none' };

  it('a missing or fresh DATA_DIR is empty and gets a JSON marker {format, writtenBy, at}', async () => {
    const dir = join(temp(), 'not-yet');
    const result = await checkDataFormat({ store: new DataDirMarker(dir), kind: dataDirKind, context: null, mode: 'refuse', role: 'unit' });
    expect(result.action).toBe('created');
    const marker = JSON.parse(readFileSync(join(dir, DATA_FORMAT_FILE), 'utf8')) as FormatMarker;
    expect(marker).toEqual({ format: DATA_DIR_FORMAT, writtenBy: `unit (${twinlaneVersion()})`, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('empty folders, logs and dotfiles are not Twinlane data; a file under lake/, views/, dlq/ or ledger/ is', async () => {
    const dir = temp();
    mkdirSync(join(dir, 'lake/events/dt=2026-01-01'), { recursive: true });
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs/speed.log'), 'x');
    writeFileSync(join(dir, '.gitkeep'), '');
    const marker = new DataDirMarker(dir);
    expect(await marker.isEmpty()).toBe(true);
    writeFileSync(join(dir, 'lake/events/dt=2026-01-01/p0.parquet'), 'x');
    expect(await marker.isEmpty()).toBe(false);
    // Unmarked data predates the markers: format 1, older than today's DATA_DIR_FORMAT.
    expect(await inspectDataFormat(marker, dataDirKind)).toMatchObject({ found: UNMARKED_FORMAT, verdict: (DATA_DIR_FORMAT as number) === UNMARKED_FORMAT ? 'unmarked' : 'older' });
  });

  it('a second create loses without touching the first marker', async () => {
    const dir = temp();
    const m = new DataDirMarker(dir);
    expect(await m.create(at(1))).toBe(true);
    expect(await m.create(at(7))).toBe(false);
    expect((await m.read())?.format).toBe(1);
    await m.write(at(2));
    expect((await m.read())?.format).toBe(2);
  });

  it('an unreadable marker stops the process with the file named, never taken for empty', async () => {
    const dir = temp();
    writeFileSync(join(dir, DATA_FORMAT_FILE), '{"format": "two"}');
    await expect(new DataDirMarker(dir).read()).rejects.toMatchObject({ code: 'DATA_FORMAT_UNREADABLE', message: expect.stringContaining(dir) });
  });

  it('one migrator at a time; a lock left by a dead process is taken over', async () => {
    const dir = temp();
    const m = new DataDirMarker(dir);
    const release = await m.lock('first');
    await expect(m.lock('second')).rejects.toMatchObject({ code: 'DATA_FORMAT_LOCKED', message: expect.stringContaining('first') });
    await release();
    writeFileSync(join(dir, '.DATA_FORMAT.lock'), JSON.stringify({ owner: 'crashed', pid: 2 ** 22 + 12_345, host: (await import('node:os')).hostname() }));
    const again = await m.lock('third');
    await again();
  });
});
