/**
 * `dlq replay`: selects dead letters, prepares every one first (so a transform that throws
 * changes nothing), then sends those that pass to the events topic in chunks and records each
 * result in the store only after Kafka acknowledged the chunk.
 *
 * Exactly once: already-replayed letters are skipped, one replay runs at a time (a lock file
 * next to the store), and every replayed event keeps a stable event id (its own, or one
 * derived from the letter) so the batch layer dedupes even the one case left, a crash between
 * Kafka's ack and the attempt-log write.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { UsageError } from '../core/errors.ts';
import { acquireFileLock } from '../core/file-lock.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { sourceKey, type DeadLetterStore } from './dead-letter.store.ts';
import { REPLAY_CHUNK } from './options.ts';
import type { Preparation as RecordPreparation, PreparedEvent, RecordPreparer, Transform } from './record.preparer.ts';

/** A record's preparation, or: its source record is replayed through another letter. */
type Preparation = RecordPreparation | { kind: 'duplicate'; of: string };
import type { AttemptRecord, DeadLetterCode, LetterFilter, StoredDeadLetter } from './types.ts';

/** Where replayed events go: resolves once Kafka acknowledged all of them (acks=all). */
export interface ReplaySink {
  send(messages: { key: string; value: Buffer }[]): Promise<void>;
}

export interface ReplayDeps {
  store: DeadLetterStore;
  preparer: RecordPreparer;
  sink: ReplaySink;
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
      await this.sendAll(prepared, options.chunk ?? REPLAY_CHUNK, options.onProgress);
      return summarize(false, letters.length, prepared);
    } finally {
      release();
    }
  }

  /** Phase 1: every selected letter through validation (and the transform), nothing sent yet. */
  private async prepareAll(letters: StoredDeadLetter[], options: ReplayOptions): Promise<{ letter: StoredDeadLetter; prep: Preparation }[]> {
    const out: { letter: StoredDeadLetter; prep: Preparation }[] = [];
    // One source record dead-lettered by several consumers (speed and lake) is replayed once.
    const sources = await this.deps.store.replayedSources();
    for (const [i, letter] of letters.entries()) {
      const key = letter.source ? sourceKey(letter.source) : undefined;
      const twin = key === undefined ? undefined : sources.get(key);
      let prep: Preparation;
      if (letter.status === 'replayed') prep = { kind: 'skip', reason: 'already replayed' };
      // Refused before a site was proven (401/403): the letter is a sample of nobody's data (contract 8), never sent on.
      else if (letter.code === 'UNAUTHORIZED' && letter.stage === 'collect') prep = { kind: 'skip', reason: 'refused for authentication (401/403): a sample only, never replayed' };
      else if (twin !== undefined) prep = { kind: 'duplicate', of: twin };
      else {
        prep = await this.deps.preparer.prepare(letter, options.transform);
        if (prep.kind === 'pass' && key !== undefined) sources.set(key, letter.id);
      }
      out.push({ letter, prep });
      options.onProgress?.('check', i + 1, letters.length);
    }
    return out;
  }

  /** Phase 2: send the passing letters chunk by chunk; record results only after Kafka's ack. */
  private async sendAll(prepared: { letter: StoredDeadLetter; prep: Preparation }[], chunk: number, onProgress: ReplayOptions['onProgress']): Promise<void> {
    const runId = randomUUID().slice(0, 8);
    for (let start = 0; start < prepared.length; start += chunk) {
      const slice = prepared.slice(start, start + chunk);
      const messages = slice.flatMap(({ prep }) => (prep.kind === 'pass' ? prep.events.map((e: PreparedEvent) => ({ key: e.key, value: e.bytes })) : []));
      if (messages.length > 0) await this.deps.sink.send(messages);
      const now = Date.now();
      const attempts: AttemptRecord[] = [];
      for (const { letter, prep } of slice) {
        if (prep.kind === 'pass') attempts.push({ id: letter.id, status: 'replayed', attempts: letter.attempts + 1, at: now });
        else if (prep.kind === 'duplicate') attempts.push({ id: letter.id, status: 'replayed', attempts: letter.attempts, message: `same source record as ${prep.of}, which was replayed`, at: now });
        else if (prep.kind === 'fail') attempts.push({ id: letter.id, status: 'failed-again', attempts: letter.attempts + 1, code: prep.code, message: prep.message, ...(prep.field ? { field: prep.field } : {}), at: now });
        this.replays.inc({ result: prep.kind === 'pass' ? 'replayed' : prep.kind === 'fail' ? 'failed-again' : 'skipped' });
      }
      await this.deps.store.recordAttempts(attempts, runId);
      this.deps.logger.info({ event: 'dlq_replay_chunk', run: runId, letters: slice.length, events: messages.length });
      onProgress?.('send', Math.min(start + chunk, prepared.length), prepared.length);
    }
  }
}

function summarize(dryRun: boolean, selected: number, prepared: { letter: StoredDeadLetter; prep: Preparation }[]): ReplaySummary {
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
