/**
 * Consumes the DLQ topic and persists every dead letter in the store, so dead letters outlive
 * Kafka retention. Offsets are committed only after the batch's Parquet file is fsynced and
 * renamed into place; a redelivered batch writes letters with the same ids, which the store
 * collapses, so archiving is idempotent.
 *
 * A message without sound metadata (someone produced into the DLQ by hand, or a writer bug)
 * is still kept, under stage `archive` / PAYLOAD_FORMAT with the problem in its message; when
 * most of a batch is like that, the circuit breaker stops the archiver instead.
 */
import { createHash } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { DiskGuard } from '../core/disk-guard.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { BaseService } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, type Metrics } from '../core/metrics.ts';
import { CircuitBreaker, CircuitOpenError } from './circuit-breaker.ts';
import { fromMessage, metadataProblems } from './dead-letter.writer.ts';
import type { DeadLetterStore } from './dead-letter.store.ts';
import type { ArchivedDeadLetter } from './types.ts';

export interface DlqArchiverDeps {
  kafka: Kafka;
  topic: string;
  groupId: string;
  store: DeadLetterStore;
  metrics: Metrics;
  logger: Logger;
  breaker: { threshold: number; minBatch: number };
  /** How often the stored-letters gauge is refreshed from the store (replays included). */
  statsRefreshMs?: number;
  /** Called with each batch once it is stored (the site-rate watcher counts failures per site). */
  onStored?: (letters: readonly ArchivedDeadLetter[]) => void;
  /** Free space under the store: while low the archiver pauses fetching and stores nothing (Kafka keeps the letters). */
  diskGuard?: DiskGuard;
  /** Called when the circuit breaker stopped the archiver. */
  onCircuitOpen?: (err: CircuitOpenError) => void;
}

/** A stable UUID-shaped id for a DLQ message without one: the same position gives the same id. */
export function positionId(topic: string, partition: number, offset: string): string {
  const h = createHash('sha256').update(`${topic}/${partition}/${offset}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class DlqArchiver extends BaseService {
  readonly name = 'dlq-archiver';
  private consumer: Consumer | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly breaker: CircuitBreaker;
  private readonly archived;
  private readonly malformed;
  private readonly writeSeconds;
  private readonly stored;
  private readonly committedOffset;

  constructor(private readonly deps: DlqArchiverDeps) {
    super();
    const m = deps.metrics;
    this.breaker = new CircuitBreaker({ consumer: 'dlq-archiver', ...deps.breaker, metrics: m, logger: deps.logger });
    this.archived = m.counter('dlq_archived_total', 'Dead letters persisted in the store, by stage and code', ['stage', 'code']);
    this.malformed = m.counter('dlq_malformed_total', 'DLQ messages without sound metadata, kept under stage archive');
    this.writeSeconds = m.histogram('dlq_archive_write_seconds', 'Time to write one batch durably to the store', [], LATENCY_BUCKETS);
    this.stored = m.gauge('dlq_stored_letters', 'Dead letters in the store, by stage, code and status (pending, replayed, failed-again)', ['stage', 'code', 'status']);
    this.committedOffset = m.gauge('dlq_archiver_committed_offset', 'Next DLQ offset to archive, by partition', ['partition']);
    // Once, for every consumer this archiver will run: space back, fetching resumes.
    deps.diskGuard?.onChange((low) => {
      if (!low) this.consumer?.resume([{ topic: deps.topic }]);
    });
  }

  get circuitOpen(): boolean {
    return this.breaker.open;
  }

  protected async onStart(): Promise<void> {
    await this.deps.store.open();
    const consumer = this.deps.kafka.consumer({ groupId: this.deps.groupId, allowAutoTopicCreation: false, maxBytesPerPartition: 4 * 1024 * 1024, retry: KAFKA_RETRY.DLQ_CONSUMER });
    await consumer.connect();
    this.consumer = consumer;
    try {
      await consumer.subscribe({ topic: this.deps.topic, fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.onBatch(consumer, p) });
    } catch (err) {
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    await this.refreshStats();
    this.statsTimer = setInterval(() => void this.refreshStats(), this.deps.statsRefreshMs ?? 30_000);
    this.statsTimer.unref();
  }

  protected async onStop(): Promise<void> {
    clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    const c = this.consumer;
    this.consumer = undefined;
    // kafkajs' disconnect stops fetching and waits for the batch in flight, which commits itself.
    await c?.disconnect();
  }

  private async onBatch(consumer: Consumer, { batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    if (this.deps.diskGuard?.low) {
      pause(); // resumed by the guard's change; nothing resolved, so this batch is fetched again
      if (!this.deps.diskGuard.low) consumer.resume([{ topic: this.deps.topic }]);
      return;
    }
    const now = Date.now();
    let bad = 0;
    const letters: ArchivedDeadLetter[] = batch.messages.map((msg) => {
      const fallback = positionId(batch.topic, batch.partition, msg.offset);
      const problems = metadataProblems(msg.headers);
      const dl = fromMessage(msg.value, msg.headers, fallback);
      const base = { ...dl, dlqPartition: batch.partition, dlqOffset: msg.offset, archivedAt: now };
      if (problems.length === 0) return base;
      bad++;
      return { ...base, stage: 'archive', code: 'PAYLOAD_FORMAT', message: `DLQ message without sound metadata (${problems.join('; ')})${dl.message ? `: ${dl.message}` : ''}` };
    });
    try {
      this.breaker.check(letters.length, bad);
    } catch (err) {
      if (!(err instanceof CircuitOpenError)) throw err;
      pause(); // fetch nothing more; nothing of this batch is committed
      this.deps.onCircuitOpen?.(err);
      void this.stop().catch((e: unknown) => this.deps.logger.error({ event: 'dlq_archiver_stop_failed', err: e }));
      return;
    }
    const first = batch.firstOffset()!;
    const last = batch.lastOffset();
    const end = this.writeSeconds.startTimer();
    await this.deps.store.append(letters, `p${batch.partition}-${first}-${last}`);
    end();
    await heartbeat();
    for (const l of letters) this.archived.inc({ stage: l.stage, code: l.code });
    this.deps.onStored?.(letters);
    this.malformed.inc(bad);
    const next = (BigInt(last) + 1n).toString();
    resolveOffset(last);
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
    this.committedOffset.set({ partition: String(batch.partition) }, Number(next));
    this.deps.logger.debug({ event: 'dlq_archived', partition: batch.partition, first, last, count: letters.length, malformed: bad });
  }

  private async refreshStats(): Promise<void> {
    try {
      const rows = await this.deps.store.stats({}, 'day');
      const totals = new Map<string, { stage: string; code: string; status: string; n: number }>();
      for (const r of rows) {
        const k = `${r.stage}|${r.code}|${r.status}`;
        const t = totals.get(k) ?? { stage: r.stage, code: r.code, status: r.status, n: 0 };
        t.n += r.count;
        totals.set(k, t);
      }
      this.stored.reset();
      for (const t of totals.values()) this.stored.set({ stage: t.stage, code: t.code, status: t.status }, t.n);
    } catch (err) {
      this.deps.logger.warn({ event: 'dlq_stats_refresh_failed', err });
    }
  }
}
