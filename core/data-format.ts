/**
 * Data-format versions of what Twinlane keeps between runs, and the one check every process
 * makes before it reads or writes them.
 *
 * Two stores carry a format number of their own:
 * - DATA_DIR (lake, batch views, dead-letter store, job ledger): a `DATA_FORMAT` file at its root
 *   (core/data-dir.marker.ts);
 * - the speed store in Redis: a `<SPEED_KEY_PREFIX>:format` key without TTL (speed/format.marker.ts).
 *
 * A process that finds an empty store writes the current number; the same number passes; an
 * older one is migrated by the one kind of process allowed to (`twinlane data migrate`, the
 * `twinlane batch run` job), step by step through a table of registered migrations, while every
 * service refuses with the command to run; a newer one is always refused. Data written before
 * formats were recorded (a store that holds data but no marker) is format 1.
 */
import type { Logger } from './logger.ts';
import { TwinlaneError } from './errors.ts';
import { readFileSync } from 'node:fs';

/**
 * The format DATA_DIR is written in. Bump it (one line) when what the lake, the batch views, the
 * dead-letter store or the ledger hold changes meaning, and register the migration from the
 * previous number in apps/data-format.guard.ts.
 */
// 2: breakdown views label a missing value with the read contract's labels (core/views.ts MISSING_LABEL).
// 3: the views' events carry `currency` and the breakdowns a currency dimension (revenue per currency,
//    contract 10); sessions are the server's visits (contract 9's idle rule), kept as `session_id`.
// 4: the views' events carry utm_medium, utm_campaign, utm_term, utm_content and channel (core/channels.ts),
//    and the breakdowns those dimensions.
// 5: the views' events carry the events' custom properties (`properties`, a map): `event:props:<key>`.
export const DATA_DIR_FORMAT = 5;

/** The format of the speed store in Redis. Bump it with a migration, or let `twinlane speed rebuild` rewrite it. */
// 2: members name a missing value with the read contract's labels ((unknown), (direct)) instead of (none).
// 3: purchase and revenue tuples carry the currency, revenue aggregates are per currency (`rev<SEP><code>`);
//    session sketches hold the server's visits (`visitor@start-ms`), with the visit state per visitor in `vs`.
// 4: each site has an epoch (`ep`, no TTL) that every write names, offset records never expire, and
//    top pages and referrers are kept per hour too (`pgh`, `rfh`) for long breakdowns.
// 5: aggregate counters, visitor and session sketches are kept per hour and per UTC day too
//    (`ch`/`uh`/`sh`, `cd`/`ud`/`sd`): unfiltered totals and series over days read a few keys.
// 6: custom events and purchases add their visitor to a per-minute sketch of their event name
//    (`event_name:<name>` in the minute's index of value sketches): goals' conversion rates across W.
// 7: dimension tuples carry utm_medium, utm_campaign, utm_term, utm_content and channel after utm_source
//    (the currency of purchase and revenue tuples moves from the 6th to the 11th value).
// 8: the values of each site's listed custom properties per minute and hour (`pr`, `prh`).
export const SPEED_STORE_FORMAT = 8;

/** What a store that holds data but no marker was written in: everything before formats were recorded. */
export const UNMARKED_FORMAT = 1;

export interface FormatMarker {
  format: number;
  /** The process and the Twinlane version that wrote the marker, e.g. `speed (twinlane 0.2.0)`. */
  writtenBy: string;
  /** ISO-8601 time of writing. */
  at: string;
}

/** Where a format marker lives; one implementation per store, a fake in the unit tests. */
export interface FormatMarkerStore {
  /** Names the store in messages: `DATA_DIR /srv/twinlane`, `speed store tl:speed in Redis`. */
  readonly where: string;
  read(): Promise<FormatMarker | undefined>;
  /** Writes the marker only if there is none; false when another process wrote one first. */
  create(marker: FormatMarker): Promise<boolean>;
  /** Writes the marker over any other (after a migration or a rebuild). */
  write(marker: FormatMarker): Promise<void>;
  /** True when the store holds no Twinlane data at all (a marker alone does not count). */
  isEmpty(): Promise<boolean>;
  /** The exclusive right to migrate; the returned function gives it back. Throws DATA_FORMAT_LOCKED when held. */
  lock(owner: string): Promise<() => Promise<void>>;
}

/** One step: rewrites a store from format N (its key in the table) to N + 1. */
export type Migration<C> = (context: C) => Promise<void>;

export interface FormatKind<C> {
  /** `DATA_DIR` or `speed store`. */
  readonly name: string;
  readonly current: number;
  /** from-format → the step to from + 1. */
  readonly migrations: Readonly<Record<number, Migration<C>>>;
  /** What to run when no migration leads from the found format (the speed store is rebuilt instead). */
  readonly withoutMigration: (found: number) => string;
}

/** `migrate`: this process is the store's one migrator. `refuse`: a service; older data stops it. */
export type FormatMode = 'migrate' | 'refuse';

export type FormatVerdict = 'empty' | 'current' | 'unmarked' | 'older' | 'newer';

export interface FormatInspection {
  where: string;
  /** The marker, when there is one. */
  marker: FormatMarker | undefined;
  /** The format the data is in: the marker's, UNMARKED_FORMAT for unmarked data, null when empty. */
  found: number | null;
  current: number;
  verdict: FormatVerdict;
  /** For older data: every step to the current format is registered. */
  migratable: boolean;
}

export interface FormatCheckResult {
  where: string;
  found: number | null;
  format: number;
  /** created: empty store marked; adopted: unmarked data of the current format marked; migrated: steps run. */
  action: 'created' | 'adopted' | 'current' | 'migrated';
  /** The from-formats of the steps run. */
  steps: number[];
}

export type DataFormatCode = 'DATA_FORMAT_NEWER' | 'DATA_FORMAT_OLDER' | 'DATA_FORMAT_NO_MIGRATION' | 'DATA_FORMAT_UNREADABLE' | 'DATA_FORMAT_LOCKED' | 'DATA_FORMAT_MIGRATION_FAILED';

/** A store is in a format this process may not use (or cannot read its marker). */
export class DataFormatError extends TwinlaneError {
  constructor(
    code: DataFormatCode,
    message: string,
    readonly where: string,
    readonly found: number | null,
    readonly expected: number,
    options: { cause?: unknown; retriable?: boolean } = {},
  ) {
    super(code, message, options);
  }
}

let version: string | undefined;

/** `twinlane <version>` from package.json, for markers and messages. */
export function twinlaneVersion(): string {
  if (version === undefined) {
    try {
      version = `twinlane ${(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '?'}`;
    } catch {
      version = 'twinlane (unknown version)';
    }
  }
  return version;
}

function steps(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

export async function inspectDataFormat<C>(store: FormatMarkerStore, kind: FormatKind<C>): Promise<FormatInspection> {
  const marker = await store.read();
  const base = { where: store.where, marker, current: kind.current };
  if (!marker) {
    if (await store.isEmpty()) return { ...base, found: null, verdict: 'empty', migratable: true };
    const found = UNMARKED_FORMAT;
    const verdict = found === kind.current ? 'unmarked' : found < kind.current ? 'older' : 'newer';
    return { ...base, found, verdict, migratable: steps(found, kind.current).every((s) => kind.migrations[s] !== undefined) };
  }
  const found = marker.format;
  const verdict = found === kind.current ? 'current' : found < kind.current ? 'older' : 'newer';
  return { ...base, found, verdict, migratable: steps(found, kind.current).every((s) => kind.migrations[s] !== undefined) };
}

function describeFound(ins: FormatInspection): string {
  if (!ins.marker) return `data format ${ins.found} (data without a format marker, written before formats were recorded)`;
  return `data format ${ins.found} (written by ${ins.marker.writtenBy} at ${ins.marker.at})`;
}

/** The error for a store this process may not use as it is; names found and expected formats and what to do. */
export function formatRefusal<C>(ins: FormatInspection, kind: FormatKind<C>, mode: FormatMode): DataFormatError {
  const found = ins.found ?? kind.current;
  const head = `${ins.where} holds ${describeFound(ins)}`;
  if (found > kind.current) {
    return new DataFormatError('DATA_FORMAT_NEWER', `${head}, from a newer Twinlane: this one (${twinlaneVersion()}) reads ${kind.name} format ${kind.current} only; upgrade Twinlane`, ins.where, found, kind.current);
  }
  if (!ins.migratable) {
    return new DataFormatError('DATA_FORMAT_NO_MIGRATION', `${head}; this Twinlane (${twinlaneVersion()}) needs ${kind.name} format ${kind.current}: ${kind.withoutMigration(found)}`, ins.where, found, kind.current);
  }
  const what = mode === 'migrate' ? 'another process is migrating it' : 'stop the Twinlane services and run `twinlane data migrate`';
  return new DataFormatError('DATA_FORMAT_OLDER', `${head}; this Twinlane (${twinlaneVersion()}) needs ${kind.name} format ${kind.current}: ${what}`, ins.where, found, kind.current);
}

export interface FormatCheckRequest<C> {
  store: FormatMarkerStore;
  kind: FormatKind<C>;
  /** What the migrations work on (a folder, a Redis client). */
  context: C;
  mode: FormatMode;
  /** The process, for markers and the migration lock: `speed`, `serving`, `twinlane data migrate`. */
  role: string;
  logger?: Logger;
  now?: () => number;
}

function markerOf(format: number, role: string, now: () => number): FormatMarker {
  return { format, writtenBy: `${role} (${twinlaneVersion()})`, at: new Date(now()).toISOString() };
}

/**
 * The decision table. Empty → write the current format; current → pass; unmarked data of the
 * current format → adopt it (write the marker); older → run the registered steps when `mode` is
 * `migrate` (under the store's lock, a marker after each step, so an interrupted migration goes on
 * from where it stopped), else refuse; newer, or older without a path of migrations → refuse.
 */
export async function checkDataFormat<C>(req: FormatCheckRequest<C>): Promise<FormatCheckResult> {
  const { store, kind, mode, role } = req;
  const now = req.now ?? Date.now;
  // Two processes may start on an empty store at once: one creates, the other reads its marker.
  for (let attempt = 0; ; attempt++) {
    const ins = await inspectDataFormat(store, kind);
    const result = { where: store.where, found: ins.found, format: kind.current, steps: [] as number[] };
    switch (ins.verdict) {
      case 'current':
        return { ...result, action: 'current' };
      case 'empty':
      case 'unmarked':
        if (await store.create(markerOf(kind.current, role, now))) {
          const action = ins.verdict === 'empty' ? 'created' : 'adopted';
          req.logger?.info({ event: 'data_format_marked', store: store.where, format: kind.current, action });
          return { ...result, action };
        }
        if (attempt >= 2) throw new DataFormatError('DATA_FORMAT_UNREADABLE', `${store.where}: its format marker could be neither created nor read`, store.where, null, kind.current);
        continue;
      case 'newer':
        throw formatRefusal(ins, kind, mode);
      case 'older':
        if (mode !== 'migrate' || !ins.migratable) throw formatRefusal(ins, kind, mode);
        return { ...result, action: 'migrated', steps: await migrate(req, now) };
    }
  }
}

async function migrate<C>(req: FormatCheckRequest<C>, now: () => number): Promise<number[]> {
  const { store, kind, role } = req;
  const release = await store.lock(role);
  try {
    // Read again under the lock: another migrator may have finished while this one waited.
    const ins = await inspectDataFormat(store, kind);
    if (ins.verdict === 'current') return [];
    if (ins.verdict !== 'older' || !ins.migratable) throw formatRefusal(ins, kind, 'migrate');
    const done: number[] = [];
    for (const from of steps(ins.found!, kind.current)) {
      req.logger?.info({ event: 'data_format_migrating', store: store.where, from, to: from + 1 });
      await kind.migrations[from]!(req.context);
      await store.write(markerOf(from + 1, role, now));
      done.push(from);
      req.logger?.info({ event: 'data_format_migrated', store: store.where, from, to: from + 1 });
    }
    return done;
  } finally {
    await release();
  }
}

/** Marks a store as written in `format` whatever it held (after a rebuild rewrote all of it). */
export async function markDataFormat(store: FormatMarkerStore, format: number, role: string, now: () => number = Date.now): Promise<void> {
  await store.write(markerOf(format, role, now));
}

/** Reads a marker's JSON; anything else is DATA_FORMAT_UNREADABLE naming the store. */
export function parseFormatMarker(text: string, where: string): FormatMarker {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new DataFormatError('DATA_FORMAT_UNREADABLE', `${where}: the format marker is not JSON (${text.slice(0, 80)}); restore it or remove it to have the data treated as format ${UNMARKED_FORMAT}`, where, null, 0, { cause: err });
  }
  const m = v as Partial<FormatMarker> | null;
  if (!m || typeof m !== 'object' || !Number.isInteger(m.format) || (m.format as number) < 1) {
    throw new DataFormatError('DATA_FORMAT_UNREADABLE', `${where}: the format marker has no whole format number >= 1 (${text.slice(0, 80)})`, where, null, 0);
  }
  return { format: m.format!, writtenBy: typeof m.writtenBy === 'string' ? m.writtenBy : '(unknown)', at: typeof m.at === 'string' ? m.at : '(unknown)' };
}
