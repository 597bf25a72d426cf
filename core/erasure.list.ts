/**
 * The erasure list (contract 8, right to erasure): per site, keyed hashes of erased visitor ids,
 * or the whole site. Kafka keeps an erased visitor's records for its retention, so every path
 * that reads events again (the speed consumer and its rebuilds, the lake archiver, the batch job,
 * the warehouse loads; imports and exports of history must too) asks this list and drops what it names.
 *
 *   DATA_DIR/erasures/key        32 random bytes (hex), made by the first erasure; mode 0600
 *   DATA_DIR/erasures/list.json  every erasure: id, site, hash (absent: the whole site), state
 *
 * The hash is sha256(key | site | visitor) in hex: DuckDB computes the same (`sha256`), so the
 * lake and batch filter in SQL; without the key a list of ids cannot be matched against it, and
 * the list and the job ledger never hold an id in clear. Long-running readers re-read the file
 * when it changes, looking at most every `refreshMs`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './durable-fs.ts';
import { acquireFileLock } from './file-lock.ts';
import { TwinlaneError } from './errors.ts';

export interface ErasureEntry {
  /** Stable per (site, hash): erasing again resumes the same entry. */
  id: string;
  site: string;
  /** Keyed hash of the visitor id; absent when the whole site is erased. */
  visitor?: string;
  requestedAt: number;
  /** `pending` from the moment it is listed (every path honours it from then on) until every store is rewritten. */
  state: 'pending' | 'done';
  doneAt?: number;
}

interface ListFile {
  v: 1;
  entries: ErasureEntry[];
}

export class ErasureBusyError extends TwinlaneError {
  constructor(path: string) {
    super('ERASURE_LOCKED', `another erasure holds ${path}; try again when it ends`, { retriable: true });
  }
}

/** SQL name of the macro `tl_erased(site, visitor)` every DuckDB filter calls. */
export const ERASED_MACRO = 'tl_erased';

const HEX64 = /^[0-9a-f]{64}$/;

export class ErasureList {
  readonly dir: string;
  readonly listPath: string;
  readonly keyPath: string;
  private entries: ErasureEntry[] = [];
  private wholeSites = new Set<string>();
  private hashed = new Map<string, Set<string>>();
  private key: string | undefined;
  private stamp = '';
  private checkedAt = -Infinity;
  /** Verdicts of recent (site, visitor) pairs of sites with erasures: a hash per visitor, not per event. */
  private verdicts = new Map<string, boolean>();

  constructor(dataDir: string, private readonly refreshMs = 5_000, private readonly clock: () => number = Date.now) {
    this.dir = join(dataDir, 'erasures');
    this.listPath = join(this.dir, 'list.json');
    this.keyPath = join(this.dir, 'key');
    this.reload();
  }

  /** True when nothing is erased: every reader's fast path. */
  get empty(): boolean {
    return this.wholeSites.size === 0 && this.hashed.size === 0;
  }

  /** Changes whenever the list does (readers rebuild their filters then). */
  get version(): string {
    return this.stamp;
  }

  /** Re-reads the list when its file changed, at most every `refreshMs`; true when it did change. */
  refresh(force = false): boolean {
    const now = this.clock();
    if (!force && now - this.checkedAt < this.refreshMs) return false;
    this.checkedAt = now;
    return this.reload();
  }

  private reload(): boolean {
    let stamp = '';
    try {
      const st = statSync(this.listPath);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (stamp === this.stamp) return false;
    const file: ListFile = stamp ? (JSON.parse(readFileSync(this.listPath, 'utf8')) as ListFile) : { v: 1, entries: [] };
    this.entries = file.entries;
    this.verdicts.clear();
    this.wholeSites = new Set(file.entries.filter((e) => e.visitor === undefined).map((e) => e.site));
    this.hashed = new Map();
    for (const e of file.entries) {
      if (e.visitor === undefined || this.wholeSites.has(e.site)) continue;
      let set = this.hashed.get(e.site);
      if (!set) this.hashed.set(e.site, (set = new Set()));
      set.add(e.visitor);
    }
    if (this.hashed.size > 0) this.key = this.readKey();
    this.stamp = stamp;
    return true;
  }

  private readKey(): string {
    const key = readFileSync(this.keyPath, 'utf8').trim();
    if (!HEX64.test(key)) throw new TwinlaneError('ERASURE_KEY_INVALID', `${this.keyPath} does not hold a 64-digit hex key`, { retriable: false });
    return key;
  }

  /** The key, made on first use (O_EXCL, so two first erasures agree on one). */
  private ensureKey(): string {
    if (this.key) return this.key;
    mkdirSync(this.dir, { recursive: true });
    if (!existsSync(this.keyPath)) {
      try {
        writeFileSync(this.keyPath, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return (this.key = this.readKey());
  }

  /** The keyed hash of a visitor of a site (what the list holds). */
  hash(site: string, visitor: string): string {
    return createHash('sha256').update(`${this.ensureKey()}|${site}|${visitor}`).digest('hex');
  }

  /** Whether an event of this site and visitor is erased; one map lookup for a site without erasures. */
  erased(site: string, visitor: string | null | undefined): boolean {
    if (this.wholeSites.has(site)) return true;
    const set = this.hashed.get(site);
    if (set === undefined || visitor == null) return false;
    const k = `${site}|${visitor}`;
    let v = this.verdicts.get(k);
    if (v === undefined) {
      if (this.verdicts.size >= 100_000) this.verdicts.clear();
      this.verdicts.set(k, (v = set.has(this.hash(site, visitor))));
    }
    return v;
  }

  list(): readonly ErasureEntry[] {
    return this.entries;
  }

  /**
   * `CREATE OR REPLACE TEMP MACRO tl_erased(s, v)`: true for a row of an erased visitor or site,
   * the constant false while nothing is erased (folded away by the planner). Every literal is a
   * site id (validated pattern) or a hex hash, never free text. `only` restricts it to one entry.
   */
  macroSql(only?: ErasureEntry): string {
    const entries = only ? [only] : this.entries;
    if (entries.length === 0) return `CREATE OR REPLACE TEMP MACRO ${ERASED_MACRO}(s, v) AS false`;
    const lit = (x: string) => `'${x.replaceAll("'", "''")}'`;
    const whole = [...new Set(entries.filter((e) => e.visitor === undefined).map((e) => e.site))];
    const parts: string[] = [];
    if (whole.length) parts.push(`s IN (${whole.map(lit).join(', ')})`);
    const bySite = new Map<string, string[]>();
    for (const e of entries) if (e.visitor !== undefined && !whole.includes(e.site)) bySite.set(e.site, [...(bySite.get(e.site) ?? []), e.visitor]);
    if (bySite.size) {
      const key = this.ensureKey();
      // The site test comes first so only that site's rows are hashed.
      const arms = [...bySite].map(([site, hs]) => `WHEN s = ${lit(site)} THEN sha256(${lit(`${key}|${site}|`)} || coalesce(v, '')) IN (${hs.map(lit).join(', ')})`);
      parts.push(`CASE ${arms.join(' ')} ELSE false END`);
    }
    return `CREATE OR REPLACE TEMP MACRO ${ERASED_MACRO}(s, v) AS (${parts.join(' OR ')})`;
  }

  /** Lists an erasure (pending) or returns the one already listed for the same site and visitor. */
  add(site: string, visitor?: string): ErasureEntry {
    return this.update(() => {
      const hash = visitor === undefined ? undefined : this.hash(site, visitor);
      const id = createHash('sha256').update(`${site}|${hash ?? '*'}`).digest('hex').slice(0, 16);
      const found = this.entries.find((e) => e.id === id);
      if (found) return { entries: this.entries, result: found };
      const entry: ErasureEntry = { id, site, ...(hash !== undefined ? { visitor: hash } : {}), requestedAt: this.clock(), state: 'pending' };
      return { entries: [...this.entries, entry], result: entry };
    });
  }

  markDone(id: string): void {
    this.update(() => ({ entries: this.entries.map((e) => (e.id === id ? { ...e, state: 'done' as const, doneAt: this.clock() } : e)), result: undefined }));
  }

  /** Read-modify-write under a lock, then written atomically (a reader sees the old list or the new). */
  private update<T>(fn: () => { entries: ErasureEntry[]; result: T }): T {
    mkdirSync(this.dir, { recursive: true });
    const release = acquireFileLock(join(this.dir, '.list.lock'), { stale: { kind: 'older-than', ms: 60_000 }, busy: () => new ErasureBusyError(join(this.dir, '.list.lock')) });
    try {
      this.reload();
      const { entries, result } = fn();
      if (entries !== this.entries) {
        writeFileAtomic(this.listPath, JSON.stringify({ v: 1, entries } satisfies ListFile, null, 1));
        this.reload();
      }
      return result;
    } finally {
      release();
    }
  }

  /** One erasure at a time per DATA_DIR (the lake, views and letters are rewritten). */
  lock(): () => void {
    const path = join(this.dir, '.erase.lock');
    return acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy: () => new ErasureBusyError(path) });
  }
}
