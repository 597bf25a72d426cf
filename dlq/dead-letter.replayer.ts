/**
 * `dlq replay`: selects dead letters, prepares every one first (so a transform that throws
 * changes nothing), then sends those that pass to the events topic in chunks and records each
 * result in the store only after Kafka acknowledged the chunk.
 *
 * Exactly once: already-replayed letters are skipped, one replay runs at a time (a lock file
 * next to the store), and every replayed event keeps a stable event id (its own, or one
 * derived from the letter) so the batch layer dedupes even the one case left, a crash between
 * Kafka's ack and the attempt-log write.
 *
 * A route (`ReplayRoute`) may claim letters that must not go back the live way: letters an import
 * of history wrote are checked as imported rows are and land where imported events land
 * (transfer/, wired in apps/replay.runtime.ts), recorded like the others once they are in place.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { UsageError } from '../core/errors.ts';
import { acquireFileLock } from '../core/file-lock.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { sourceKey, type DeadLetterStore } from './dead-letter.store.ts';
import { REPLAY_CHUNK } from './options.ts';
import type { Preparation as RecordPreparation, PreparedEvent, PreparedRecord, RecordPreparer, Transform } from './record.preparer.ts';
import type { AttemptRecord, DeadLetterCode, LetterFilter, StoredDeadLetter } from './types.ts';

/** Its source record is replayed through another letter. */
type Duplicate = { kind: 'duplicate'; of: string };
/** A letter and its preparation: for the events topic, or for the route that claimed it. */
type Checked =
  | { letter: StoredDeadLetter; route?: undefined; prep: RecordPreparation | Duplicate }
  | { letter: StoredDeadLetter; route: ReplayRoute; prep: RecordPreparation<PreparedRecord> | Duplicate };
type Preparation = Checked['prep'];

/** Where replayed events go: resolves once Kafka acknowledged all of them (acks=all). */
export interface ReplaySink {
  send(messages: { key: string; value: Buffer }[]): Promise<void>;
}

/** What a route landed: lake-relative files and the days they make dirty. */
export interface RouteLanding {
  files: string[];
  days: string[];
  /** Called once the landed letters are recorded as replayed. */
  settle(): void;
}

/**
 * Letters that go back another way than the live one. A route checks the letters it claims with
 * its own validation (a route replaces the live checks, it never skips checking) and lands their
 * events itself, durably before `land` resolves.
 */
export interface ReplayRoute {
  claims(letter: StoredDeadLetter): boolean;
  /** Checks one letter (after the transform, which may throw TransformError); lands nothing. */
  prepare(letter: StoredDeadLetter, transform?: Transform): Promise<RecordPreparation<PreparedRecord>>;
  land(passed: { letter: StoredDeadLetter; events: PreparedRecord[] }[]): Promise<RouteLanding>;
}

export interface ReplayDeps {
  store: DeadLetterStore;
  preparer: RecordPreparer;
  sink: ReplaySink;
  /** Routes tried in order before the events topic (e.g. imports' letters into the lake). */
  routes?: ReplayRoute[];
  logger: Logger;
  metrics: Metrics;
}

export interface ReplayOptions {
  filter: LetterFilter;
  dryRun?: boolean;
  transform?: Transform;
  chunk?: number;
  /** Phase `check` (validation and transform of every letter), then `send`. */
  onProgress?: (phase: 'check' | 'send', done: number, total: number) => void;
}

export interface ReplayVerdict {
  id: string;
  verdict: 'pass' | 'fail' | 'skip';
  events?: number;
  code?: DeadLetterCode;
  message?: string;
  field?: string;
}

export interface ReplaySummary {
  dryRun: boolean;
  selected: number;
  /** Letters whose events reached the events topic (would reach, in a dry run). */
  replayed: number;
  failedAgain: number;
  /** Already replayed, or the transform returned null. */
  skipped: number;
  events: number;
  /** Events a route landed itself (imports' letters: into the lake), the files and the days they made dirty. */
  landed?: { events: number; files: number; days: string[] };
  verdicts: ReplayVerdict[];
}

export class DeadLetterReplayer {
  private readonly replays;

  constructor(private readonly deps: ReplayDeps) {
    this.replays = deps.metrics.counter('dlq_replays_total', 'Dead letters replayed, by result (replayed, failed-again, skipped)', ['result']);
  }

  async replay(options: ReplayOptions): Promise<ReplaySummary> {
    const dryRun = options.dryRun ?? false;
    const release = dryRun ? () => undefined : acquireReplayLock(join(this.deps.store.dir, 'replay.lock'));
    try {
      const letters = await this.deps.store.list(options.filter);
      if (letters.length === 0) throw new UsageError('EMPTY_SELECTION', `no dead letters match ${describeFilter(options.filter)}; nothing replayed`);
      const missing = (options.filter.ids ?? []).filter((id) => !letters.some((l) => l.id === id));
      if (missing.length > 0) throw new UsageError('UNKNOWN_ID', `no dead letter with id ${missing.join(', ')}; nothing replayed`);
      const prepared = await this.prepareAll(letters, options);
      if (dryRun) return summarize(true, letters.length, prepared);
      const landed = await this.sendAll(prepared, options.chunk ?? REPLAY_CHUNK, options.onProgress);
      return { ...summarize(false, letters.length, prepared), ...(landed.events > 0 ? { landed: { ...landed, days: [...landed.days].sort() } } : {}) };
    } finally {
      release();
    }
  }

  /** Phase 1: every selected letter through validation (and the transform), nothing sent yet. */
  private async prepareAll(letters: StoredDeadLetter[], options: ReplayOptions): Promise<Checked[]> {
    const out: Checked[] = [];
    // One source record dead-lettered by several consumers (speed and lake) is replayed once.
    const sources = await this.deps.store.replayedSources();
    for (const [i, letter] of letters.entries()) {
      const key = letter.source ? sourceKey(letter.source) : undefined;
      const twin = key === undefined ? undefined : sources.get(key);
      const route = this.deps.routes?.find((r) => r.claims(letter));
      let settled: Duplicate | { kind: 'skip'; reason: string } | undefined;
      if (letter.status === 'replayed') settled = { kind: 'skip', reason: 'already replayed' };
      // Refused before a site was proven (401/403): the letter is a sample of nobody's data (contract 8), never sent on.
      else if (letter.code === 'UNAUTHORIZED' && letter.stage === 'collect') settled = { kind: 'skip', reason: 'refused for authentication (401/403): a sample only, never replayed' };
      else if (twin !== undefined) settled = { kind: 'duplicate', of: twin };
      const checked: Checked = route
        ? { letter, route, prep: settled ?? (await route.prepare(letter, options.transform)) }
        : { letter, prep: settled ?? (await this.deps.preparer.prepare(letter, options.transform)) };
      out.push(checked);
      if (checked.prep.kind === 'pass' && key !== undefined) sources.set(key, letter.id);
      options.onProgress?.('check', i + 1, letters.length);
    }
    return out;
  }

  /** Phase 2: send the passing letters chunk by chunk; record results only after Kafka's ack. */
  private async sendAll(prepared: Checked[], chunk: number, onProgress: ReplayOptions['onProgress']): Promise<{ events: number; files: number; days: Set<string> }> {
    const runId = randomUUID().slice(0, 8);
    const landed = { events: 0, files: 0, days: new Set<string>() };
    for (let start = 0; start < prepared.length; start += chunk) {
      const slice = prepared.slice(start, start + chunk);
      const messages = slice.flatMap((c) => (c.route === undefined && c.prep.kind === 'pass' ? c.prep.events.map((e: PreparedEvent) => ({ key: e.key, value: e.bytes })) : []));
      if (messages.length > 0) await this.deps.sink.send(messages);
      // Each route lands its letters of the chunk durably before any of them is recorded.
      const landings: RouteLanding[] = [];
      for (const route of this.deps.routes ?? []) {
        const passed = slice.flatMap((c) => (c.route === route && c.prep.kind === 'pass' ? [{ letter: c.letter, events: c.prep.events }] : []));
        if (passed.length === 0) continue;
        const landing = await route.land(passed);
        landings.push(landing);
        landed.events += passed.reduce((n, p) => n + p.events.length, 0);
        landed.files += landing.files.length;
        for (const d of landing.days) landed.days.add(d);
      }
      const now = Date.now();
      const attempts: AttemptRecord[] = [];
      for (const { letter, prep } of slice) {
        if (prep.kind === 'pass') attempts.push({ id: letter.id, status: 'replayed', attempts: letter.attempts + 1, at: now });
        else if (prep.kind === 'duplicate') attempts.push({ id: letter.id, status: 'replayed', attempts: letter.attempts, message: `same source record as ${prep.of}, which was replayed`, at: now });
        else if (prep.kind === 'fail') attempts.push({ id: letter.id, status: 'failed-again', attempts: letter.attempts + 1, code: prep.code, message: prep.message, ...(prep.field ? { field: prep.field } : {}), at: now });
        this.replays.inc({ result: prep.kind === 'pass' ? 'replayed' : prep.kind === 'fail' ? 'failed-again' : 'skipped' });
      }
      await this.deps.store.recordAttempts(attempts, runId);
      for (const l of landings) l.settle();
      this.deps.logger.info({ event: 'dlq_replay_chunk', run: runId, letters: slice.length, events: messages.length, landed: landings.reduce((n, l) => n + l.files.length, 0) });
      onProgress?.('send', Math.min(start + chunk, prepared.length), prepared.length);
    }
    return landed;
  }
}

function summarize(dryRun: boolean, selected: number, prepared: Checked[]): ReplaySummary {
  const verdicts: ReplayVerdict[] = prepared.map(({ letter, prep }) =>
    prep.kind === 'pass'
      ? { id: letter.id, verdict: 'pass', events: prep.events.length }
      : prep.kind === 'fail'
        ? { id: letter.id, verdict: 'fail', code: prep.code, message: prep.message, ...(prep.field ? { field: prep.field } : {}) }
        : prep.kind === 'duplicate'
          ? { id: letter.id, verdict: 'skip', message: `same source record as ${prep.of} (replayed once, through that letter)` }
          : { id: letter.id, verdict: 'skip', message: prep.reason },
  );
  const count = (v: ReplayVerdict['verdict']) => verdicts.filter((x) => x.verdict === v).length;
  return { dryRun, selected, replayed: count('pass'), failedAgain: count('fail'), skipped: count('skip'), events: verdicts.reduce((s, v) => s + (v.events ?? 0), 0), verdicts };
}

export function describeFilter(f: LetterFilter): string {
  const parts: string[] = [];
  if (f.ids) parts.push(`id ${f.ids.join(', ')}`);
  if (f.stage) parts.push(`stage ${f.stage.join('|')}`);
  if (f.code) parts.push(`code ${f.code.join('|')}`);
  if (f.site) parts.push(`site ${f.site.join('|')}`);
  if (f.status) parts.push(`status ${f.status.join('|')}`);
  if (f.from !== undefined) parts.push(`from ${new Date(f.from).toISOString()}`);
  if (f.to !== undefined) parts.push(`to ${new Date(f.to).toISOString()}`);
  return parts.length ? parts.join(', ') : 'the selection (the store is empty)';
}

/** One replay at a time per store; a lock left by a dead process is taken over. */
function acquireReplayLock(path: string): () => void {
  return acquireFileLock(path, {
    stale: { kind: 'holder-gone' },
    busy: ({ pid }) =>
      pid === undefined
        ? new UsageError('REPLAY_RUNNING', `could not take the replay lock ${path}`)
        : new UsageError('REPLAY_RUNNING', `another replay (pid ${pid}) is running on this store; wait for it (lock ${path})`),
  });
}
