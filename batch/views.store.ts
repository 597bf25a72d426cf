/**
 * The batch views on disk (contract 5):
 *   views/days/<day>/<runId>/{events,minute,hour,day,dims,sketches}.parquet  immutable, written once
 *   views/versions/<version>.json                                    immutable manifests: day → folder
 *   views/CURRENT.json                                               the one atomic pointer (version, W)
 * A run writes only the days it computed and a manifest that reuses the other days' folders
 * from the version it started from, so a version is cheap and rollback is a pointer move.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, TwinlaneError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { acquireFileLock } from '../core/file-lock.ts';
import { DAY_MS, parseDay } from './lake.layout.ts';
import type { DayEntry, Pointer, VersionManifest } from './types.ts';

export const VIEW_TABLES = ['events', 'minute', 'hour', 'day', 'dims', 'sketches'] as const;
export type ViewTable = (typeof VIEW_TABLES)[number];

export class BatchLockedError extends TwinlaneError {
  constructor(path: string) {
    super('BATCH_LOCKED', `another batch run holds ${path}; try again when it ends`, { retriable: true });
  }
}

export class ViewsStore {
  readonly root: string;
  readonly pointerPath: string;
  readonly versionsDir: string;
  readonly daysDir: string;
  private readonly manifests = new Map<string, VersionManifest>();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'views');
    this.pointerPath = join(this.root, 'CURRENT.json');
    this.versionsDir = join(this.root, 'versions');
    this.daysDir = join(this.root, 'days');
  }

  pointer(): Pointer | null {
    try {
      return JSON.parse(readFileSync(this.pointerPath, 'utf8')) as Pointer;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Manifests are immutable, so they are cached by version. */
  manifest(version: string): VersionManifest {
    let m = this.manifests.get(version);
    if (!m) {
      m = JSON.parse(readFileSync(join(this.versionsDir, `${version}.json`), 'utf8')) as VersionManifest;
      this.manifests.set(version, m);
    }
    return m;
  }

  current(): VersionManifest | null {
    const p = this.pointer();
    return p ? this.manifest(p.version) : null;
  }

  versions(): string[] {
    if (!existsSync(this.versionsDir)) return [];
    return readdirSync(this.versionsDir)
      .filter((n) => /^v\d+\.json$/.test(n))
      .map((n) => n.slice(0, -5))
      .sort();
  }

  nextVersion(): string {
    const last = this.versions().at(-1);
    return `v${String((last ? Number(last.slice(1)) : 0) + 1).padStart(6, '0')}`;
  }

  dayDir(day: string, runId: string): string {
    return join(this.daysDir, day, runId);
  }

  tablePath(dir: string, table: ViewTable): string {
    return join(this.root, dir, `${table}.parquet`);
  }

  /** Folder of a month's views (batch/month.views.ts): `months/<YYYY-MM>/<runId>`. */
  monthDir(month: string, runId: string): string {
    return join(this.root, 'months', month, runId);
  }

  monthPath(dir: string): string {
    return join(this.root, dir, 'month.parquet');
  }

  /** Writes the manifest, then moves the pointer to it (each step atomic). */
  publish(m: VersionManifest): void {
    writeFileAtomic(join(this.versionsDir, `${m.version}.json`), JSON.stringify(m, null, 1));
    this.manifests.set(m.version, m);
    this.setPointer({ version: m.version, watermark: m.watermark, updatedAt: Date.now(), reason: 'run' });
  }

  private setPointer(p: Pointer): void {
    writeFileAtomic(this.pointerPath, JSON.stringify(p));
  }

  /** Makes the version before the current one current again, in one atomic step. */
  rollback(): Pointer {
    const cur = this.pointer();
    if (!cur) throw new UsageError('NO_BATCH_VERSION', 'there is no batch version yet: nothing to roll back');
    const prev = this.versions().filter((v) => v < cur.version).at(-1);
    if (!prev) throw new UsageError('NO_PREVIOUS_VERSION', `${cur.version} is the oldest version kept: nothing to roll back to`);
    const m = this.manifest(prev);
    const p: Pointer = { version: prev, watermark: m.watermark, updatedAt: Date.now(), reason: 'rollback' };
    this.setPointer(p);
    return p;
  }

  /** Keeps the newest `keep` versions (and the current one); deletes day folders no kept version uses. */
  prune(keep: number): { versions: string[]; dirs: string[] } {
    const cur = this.pointer()?.version;
    const all = this.versions();
    const kept = new Set(all.slice(-keep));
    if (cur) kept.add(cur);
    const removed = all.filter((v) => !kept.has(v));
    for (const v of removed) {
      rmSync(join(this.versionsDir, `${v}.json`), { force: true });
      this.manifests.delete(v);
    }
    const used = new Set<string>();
    for (const v of kept) for (const d of [...Object.values(this.manifest(v).days), ...Object.values(this.manifest(v).months ?? {})]) used.add(d.dir);
    const dirs: string[] = [];
    // Day folders, and month folders (batch/month.views.ts).
    for (const top of ['days', 'months']) {
      if (!existsSync(join(this.root, top))) continue;
      for (const day of readdirSync(join(this.root, top)))
        for (const run of readdirSync(join(this.root, top, day))) {
          const rel = join(top, day, run);
          // A run still writing has no manifest yet: leave folders younger than an hour alone.
          if (!used.has(rel) && Date.now() - statSync(join(this.root, rel)).mtimeMs > 3_600_000) {
            rmSync(join(this.root, rel), { recursive: true, force: true });
            dirs.push(rel);
          }
        }
    }
    return { versions: removed, dirs };
  }

  /**
   * Deletes every version that uses one of `dirs` (older versions an erasure cannot rewrite: they
   * cannot be rolled back to any more), then the folders themselves. The current version must not
   * use them: recompute the days first.
   */
  forget(dirs: ReadonlySet<string>): { versions: string[]; dirs: string[] } {
    const cur = this.pointer()?.version;
    const uses = (v: string) => Object.values(this.manifest(v).days).some((d) => dirs.has(d.dir));
    if (cur && uses(cur)) throw new UsageError('VERSION_IN_USE', `the current version ${cur} still uses a folder to forget; recompute its days first`);
    const versions = this.versions().filter(uses);
    for (const v of versions) {
      rmSync(join(this.versionsDir, `${v}.json`), { force: true });
      this.manifests.delete(v);
    }
    const removed: string[] = [];
    for (const d of dirs) {
      if (!existsSync(join(this.root, d))) continue;
      rmSync(join(this.root, d), { recursive: true, force: true });
      removed.push(d);
    }
    return { versions, dirs: removed };
  }

  /** One batch run at a time per views folder. */
  lock(): () => void {
    const path = join(this.root, '.lock');
    // A lock older than six hours belongs to a run that died.
    return acquireFileLock(path, { stale: { kind: 'older-than', ms: 6 * 3_600_000 }, busy: () => new BatchLockedError(path) });
  }
}

/**
 * W: the end of the latest covered day that is over (contract 5), or of the part of a day computed
 * up to a site's local midnight (`until`).
 */
export function watermarkOf(days: Iterable<string> | Readonly<Record<string, Pick<DayEntry, 'until'>>>, now = Date.now()): number | null {
  const entries: [string, number | undefined][] = Symbol.iterator in days ? [...(days as Iterable<string>)].map((d) => [d, undefined]) : Object.entries(days).map(([d, e]) => [d, e.until]);
  let w: number | null = null;
  for (const [d, until] of entries) {
    const end = until ?? parseDay(d) + DAY_MS;
    if (end <= now && (w === null || end > w)) w = end;
  }
  return w;
}
