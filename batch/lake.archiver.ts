/**
 * The lake archiver (consumer group `lake`): Kafka → per-partition CSV-line spools → a roll
 * (size or age) → Parquet files in dt/hour folders → commit. Offsets move only after the files
 * are durably in place; an interrupted roll is undone from its marker when the partition is
 * assigned again (lake-recovery.ts), so every event lands exactly once.
 *
 * The roll itself (Parquet, fsync, rename, commit) is lake.roll.ts: one roll may be written in
 * the background while the next spools fill (DuckDB converts on its own threads while JS
 * decodes); a second roll waits for the first, which is the backpressure. DuckDB may also convert
 * a spool segment ahead of its roll when it is idle (partition.spool.ts); nothing reaches the
 * lake, or moves an offset, before the roll.
 */
import { ErasureList } from '../core/erasure.list.ts';
import { heartbeatIntervalOf, withHeartbeats } from '../core/kafka-heartbeat.ts';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { openDuckDB, type DuckDB } from '../core/duckdb.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import type { DiskGuard } from '../core/disk-guard.ts';
import { BaseService } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, type Metrics } from '../core/metrics.ts';
import { classifyDecodeFailure, decodeDeadLetter, type CircuitBreaker, type DeadLetterWriter, type DecodeFailure, type NewDeadLetter, type Outcome } from '../dlq/index.ts';
import type { EventCodec } from '../schemas/index.ts';
import { lakePaths, type LakePaths } from './lake.layout.ts';
import { InflightMarkers } from './lake-recovery.ts';
import { PartitionLeases } from './lake.lease.ts';
import { writeProgress } from './lake.progress.ts';
import { LakeRoll, type RollTrigger } from './lake.roll.ts';
import { LakeWriter } from './lake.writer.ts';
import type { ArchiverOptions } from './options.ts';
import { SPOOL_COLUMNS } from './lake.schema.ts';
import { PartitionSpool } from './partition.spool.ts';
import { SpoolLineEncoder } from './spool-line.encoder.ts';

/**
 * Rows of a partition's spool that DuckDB converts ahead of the roll when it has nothing else to
 * do, so conversion overlaps decoding and the roll only waits for the last segment. Each
 * conversion stays small (DuckDB's memory grows with it); the cost is a few files per hour and
 * partition in a busy roll instead of one (compaction merges closed hours).
 */
const SEGMENT_ROWS = 16_384;
const SEGMENT_MAX_ROWS = 4 * SEGMENT_ROWS;

/**
 * Fetch sizes: a fetch's decoded messages are what the heap holds at its peak; 4 MB (1 MB per
 * partition) keeps the process well under 500 MB (with ARCHIVER_NODE_ARGS) at about 150k
 * events/s on two cores (measured; 8 MB came within a few MB of 500).
 */
const FETCH_MAX_BYTES = 4 * 1024 * 1024;
const FETCH_MAX_BYTES_PER_PARTITION = 1024 * 1024;

export interface ArchiverDeps {
  kafka: Kafka;
  codec: EventCodec;
  deadLetters: DeadLetterWriter;
  /** Stops the archiver when most of a batch would be dead-lettered (built by the entry point, as speed's is). */
  breaker?: CircuitBreaker;
  logger: Logger;
  metrics: Metrics;
  /**
   * Free space under the lake: while it is low the archiver takes no batch (it pauses fetching and
   * resolves nothing, so the records are fetched again) and holds its age rolls.
   */
  diskGuard?: DiskGuard;
  /** Called once when the archiver cannot go on safely (a roll failed, the breaker opened). */
  onFatal?: (err: unknown) => void;
}

/** What spooling one record comes to: spooled, or its decode failure (dead-lettered by the batch loop). */
type Spooled = Extract<Outcome<void>, { kind: 'ok' }>;
type SpoolOutcome = Spooled | DecodeFailure;

/**
 * Spools one record as a CSV line into `lines`, or returns the dead-letter outcome naming why it
 * cannot be. The encoder takes records of the codec's own schema id without building objects;
 * other ids go through the codec's schema resolution.
 */
function spoolRecord(codec: EventCodec, lines: SpoolLineEncoder, value: Buffer | null): SpoolOutcome | Promise<SpoolOutcome> {
  try {
    if (value && lines.tryAppend(value)) return OK;
    const cached = codec.decodeCached(value);
    if (cached) {
      lines.appendEvent(cached.event);
      return OK;
    }
  } catch (err) {
    return asOutcome(err);
  }
  return codec.decode(value).then((d) => {
    lines.appendEvent(d.event);
    return OK;
  }, asOutcome);
}

/** The dead-letter outcome of a record that cannot be decoded; any other error is not the record's fault. */
function asOutcome(err: unknown): DecodeFailure {
  const failure = classifyDecodeFailure(err);
  if (!failure) throw err; // the registry is down, for example: retry the batch
  return failure;
}

const OK: Spooled = { kind: 'ok', value: undefined };

export class LakeArchiver extends BaseService {
  readonly name = 'lake-archiver';
  private readonly paths: LakePaths;
  private readonly spoolDir: string;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private db: DuckDB | undefined;
  private writer: LakeWriter | undefined;
  private markers: InflightMarkers | undefined;
  private leases: PartitionLeases | undefined;
  private get heartbeatMs(): number {
    return heartbeatIntervalOf(this.options.sessionTimeoutMs ?? 30_000);
  }
  private lines: SpoolLineEncoder | undefined;
  private spools = new Map<number, PartitionSpool>();
  private spoolSeq = 0;
  /** Next offset to spool per partition; set by recovery after each assignment. */
  private nextOffset = new Map<number, bigint>();
  private recovered = new Set<number>();
  private generationChanged = false;
  private stopping = false;
  private lock: Promise<void> = Promise.resolve();
  /** The roll in flight and the next; built on start, with the writer it places files through. */
  private rolls: LakeRoll | undefined;
  private fatal: unknown;
  private timer: NodeJS.Timeout | undefined;
  private confirmed = new Map<number, bigint>();
  private readonly m;

  constructor(
    private readonly deps: ArchiverDeps,
    private readonly options: ArchiverOptions,
  ) {
    super();
    this.paths = lakePaths(options.dataDir);
    this.spoolDir = join(this.paths.root, '_spool', `${options.groupId}-${process.pid}-${randomUUID().slice(0, 8)}`);
    const mt = deps.metrics;
    this.m = {
      events: mt.counter('lake_events_total', 'Events written to the lake'),
      deadLettered: mt.counter('lake_dead_letters_total', 'Records the archiver dead-lettered', ['code']),
      files: mt.counter('lake_files_total', 'Parquet files renamed into the lake'),
      bytes: mt.counter('lake_bytes_total', 'Bytes of Parquet written to the lake'),
      rolls: mt.counter('lake_rolls_total', 'Rolls completed, by trigger', ['trigger']),
      rollSeconds: mt.histogram('lake_roll_seconds', 'Time to write, fsync and rename one roll', [], LATENCY_BUCKETS),
      buffered: mt.gauge('lake_buffered_rows', 'Rows spooled and not yet in the lake'),
      blocked: mt.counter('lake_backpressure_seconds_total', 'Time consumption waited for the previous roll'),
      recoveredFiles: mt.counter('lake_recovered_files_total', 'Files of interrupted rolls deleted on reassignment'),
      committed: mt.gauge('lake_committed_offset', 'Last committed offset per partition', ['partition']),
      fenced: mt.counter('lake_fenced_ranges_total', 'Partition ranges of a roll dropped because another archiver took the partition over'),
      lag: mt.gauge('lake_consumer_lag', 'Records of a partition behind its high watermark at the last fetch (not yet spooled)', ['partition']),
    };
    // Once, for every consumer this archiver will run: space back, fetching resumes.
    deps.diskGuard?.onChange((low) => {
      if (!low) this.consumer?.resume([{ topic: options.topic }]);
    });
  }

  protected async onStart(): Promise<void> {
    this.stopping = false;
    this.fatal = undefined;
    mkdirSync(this.spoolDir, { recursive: true });
    this.cleanScratch();
    this.db = await openDuckDB({ ...this.options.duckdb, tempDir: join(this.paths.root, '_duckdb_tmp') });
    this.markers = new InflightMarkers(this.paths.inflight, this.options.groupId, this.options.topic);
    // One owner id per start: a restarted archiver is a new owner, its earlier self a zombie.
    this.leases = new PartitionLeases(this.paths.root, this.options.groupId, this.options.topic, `${process.pid}-${randomUUID().slice(0, 8)}`);
    this.writer = new LakeWriter(this.db.conn, this.paths, this.options.topic, this.markers, new ErasureList(this.options.dataDir, this.options.erasureRefreshMs));
    this.rolls = new LakeRoll({
      writer: this.writer,
      markers: this.markers,
      leases: this.leases,
      topic: this.options.topic,
      commit: (offsets) => this.consumer!.commitOffsets(offsets),
      // How far each partition is archived, for the batch job's completeness check (lake.progress.ts).
      committed: (done) => writeProgress(this.options.dataDir, this.options.topic, done.map((d) => ({ partition: d.partition, offset: (d.last + 1n).toString(), archivedThrough: d.maxTimestamp }))),
      confirmed: this.confirmed,
      logger: this.deps.logger,
      metrics: this.m,
      onFailed: (err) => this.fail(err),
    });
    await this.deps.codec.init();
    this.lines = new SpoolLineEncoder(this.deps.codec.type, this.deps.codec.schemaId, SPOOL_COLUMNS);
    await this.deps.deadLetters.start();
    this.admin = this.deps.kafka.admin();
    await this.admin.connect();
    const consumer = this.deps.kafka.consumer({
      groupId: this.options.groupId,
      maxBytesPerPartition: FETCH_MAX_BYTES_PER_PARTITION,
      maxBytes: FETCH_MAX_BYTES,
      maxWaitTimeInMs: 200,
      sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
      rebalanceTimeout: this.options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: this.heartbeatMs,
      retry: KAFKA_RETRY.LAKE_CONSUMER,
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.generationChanged = true;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(e.payload.error);
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics) for (const p of t.partitions) if (t.topic === this.options.topic) this.confirmed.set(Number(p.partition), BigInt(p.offset));
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    this.consumer = consumer;
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (p) => this.onBatch(p) });
    // A cheap check: often enough that an age roll starts within a tenth of a second of its due time.
    this.timer = setInterval(() => void this.onTick(), this.options.tickMs ?? 100);
  }

  /** Drains: stop taking batches, roll what is spooled, commit, then disconnect. */
  protected async onStop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.locked(async () => {
        await this.rolls!.settled();
        // On a low disk the spools are dropped instead: their offsets are not committed, so they come back.
        if (!this.fatal && !this.deps.diskGuard?.low) await this.roll('stop');
        await this.rolls!.settled();
      });
    } finally {
      await this.consumer?.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
      await this.deps.deadLetters.stop();
      for (const s of this.spools.values()) s.discard();
      this.spools.clear();
      await this.writer?.drain(); // conversions of discarded spools may still be running
      rmSync(this.spoolDir, { recursive: true, force: true });
      this.db?.close();
      this.db = undefined;
      this.consumer = undefined;
    }
  }

  /** Serialises batches, timer rolls and stop; applies a rebalance before anything else. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      if (this.generationChanged) {
        this.generationChanged = false;
        // After a rebalance kafkajs fetches again from the committed offsets: what is spooled will come back.
        for (const s of this.spools.values()) s.discard();
        this.spools.clear();
        this.recovered.clear();
        this.nextOffset.clear();
        this.m.buffered.set(0);
      }
      return fn();
    });
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (this.deps.diskGuard?.low) {
      pause(); // resumed by the guard's change; nothing resolved, so this batch is fetched again
      if (!this.deps.diskGuard.low) this.consumer?.resume([{ topic: this.options.topic }]); // space came back meanwhile
      return;
    }
    // A batch may wait behind a roll for seconds: it heartbeats meanwhile (core/kafka-heartbeat.ts).
    await withHeartbeats(heartbeat, this.heartbeatMs, () => this.locked(async () => {
      if (this.stopping || !isRunning() || isStale() || this.generationChanged) return;
      const partition = batch.partition;
      if (!this.recovered.has(partition)) await this.recover(partition);
      const next = this.nextOffset.get(partition) ?? -1n;
      // Offsets rise within a batch: only a batch that starts below `next` needs filtering.
      const all = batch.messages;
      const messages = all.length > 0 && BigInt(all[0]!.offset) >= next ? all : all.filter((m) => BigInt(m.offset) >= next);
      if (messages.length === 0) return;
      await this.spoolMessages(partition, messages);
      resolveOffset(messages[messages.length - 1]!.offset);
      this.m.lag.set({ partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - Number(messages[messages.length - 1]!.offset) - 1));
      if (this.bufferedRows() >= this.options.rollRows) await this.roll('size');
    }));
    await heartbeat();
  }

  private async spoolMessages(partition: number, messages: KafkaMessage[]): Promise<void> {
    const lines = this.lines!;
    lines.reset();
    let rows = 0;
    const letters: NewDeadLetter[] = [];
    for (const msg of messages) {
      let outcome = spoolRecord(this.deps.codec, lines, msg.value);
      if (outcome instanceof Promise) outcome = await outcome;
      if (outcome.kind === 'ok') rows++;
      else letters.push(decodeDeadLetter(outcome, msg.value, { topic: this.options.topic, partition, offset: msg.offset }));
    }
    try {
      this.deps.breaker?.check(messages.length, letters.length);
    } catch (err) {
      this.fail(err);
      throw err;
    }
    // Dead letters are acknowledged before their offsets can ever be committed.
    if (letters.length > 0) {
      await this.deps.deadLetters.write(letters);
      for (const l of letters) this.m.deadLettered.inc({ code: l.code });
    }
    let spool = this.spools.get(partition);
    if (!spool) {
      spool = new PartitionSpool(partition, join(this.spoolDir, `p${partition}-${++this.spoolSeq}`));
      this.spools.set(partition, spool);
    }
    const first = BigInt(messages[0]!.offset);
    const last = BigInt(messages[messages.length - 1]!.offset);
    spool.append(lines.bytes(), rows, first, last, lines.longestLine);
    for (const msg of messages) spool.maxTimestamp = Math.max(spool.maxTimestamp, Number(msg.timestamp));
    this.nextOffset.set(partition, last + 1n);
    this.m.buffered.set(this.bufferedRows());
    // Ahead when DuckDB is idle; regardless (queued) once a segment is so big its conversion would take too much memory.
    if (spool.openRows >= SEGMENT_ROWS && (this.writer!.idle || spool.openRows >= SEGMENT_MAX_ROWS)) this.convertAhead(spool);
  }

  /** Hands the spool's segment to DuckDB now; a failure surfaces when its roll awaits it. */
  private convertAhead(spool: PartitionSpool): void {
    const segment = spool.cut();
    if (!segment) return;
    segment.converted = this.writer!.convert(segment, spool.partition);
    segment.converted.catch(() => undefined);
  }

  private async recover(partition: number): Promise<void> {
    await this.rolls!.settled(); // a roll of ours still renaming files must finish before its marker is judged
    // Before the committed offset is read: an earlier owner's roll of this partition either ended
    // (placed and committed) before this, or is dropped (lake.lease.ts); it never lands later.
    await this.leases!.take(partition);
    const offsets = await this.admin!.fetchOffsets({ groupId: this.options.groupId, topics: [this.options.topic] });
    const entry = offsets[0]?.partitions.find((p) => p.partition === partition);
    const committed = BigInt(entry?.offset ?? '-1');
    const { kept, deleted } = this.markers!.recover(partition, committed);
    if (deleted > 0) {
      this.m.recoveredFiles.inc(deleted);
      this.deps.logger.warn({ event: 'lake_roll_undone', partition, committed: committed.toString(), deleted, kept }, 'deleted files of an interrupted roll; the range is read again');
    }
    this.nextOffset.set(partition, committed);
    this.recovered.add(partition);
  }

  private bufferedRows(): number {
    let n = 0;
    for (const s of this.spools.values()) n += s.rows;
    return n;
  }

  private async onTick(): Promise<void> {
    if (this.stopping || this.spools.size === 0 || this.deps.diskGuard?.low) return;
    const oldest = Math.min(...[...this.spools.values()].map((s) => s.openedAt));
    if (Date.now() - oldest < this.options.rollAgeMs) return;
    await this.locked(async () => {
      if (!this.stopping && !this.fatal) await this.roll('age');
    }).catch((err: unknown) => this.deps.logger.error({ event: 'lake_roll_failed', err }));
  }

  /** Hands the current spools to a background roll (lake.roll.ts); waits for the previous one first. */
  private async roll(trigger: RollTrigger): Promise<void> {
    const rolls = this.rolls!;
    await rolls.waitForPrevious();
    if (this.fatal) throw this.fatal;
    const spools = [...this.spools.values()].filter((s) => s.first !== undefined);
    this.spools.clear();
    this.m.buffered.set(0);
    if (spools.length === 0) return;
    rolls.begin(spools, trigger);
  }

  private fail(err: unknown): void {
    if (this.fatal) return;
    this.fatal = err;
    this.deps.onFatal?.(err);
  }

  /** Scratch files of a crashed process are never read; drop those older than an hour. */
  private cleanScratch(): void {
    for (const dir of [this.paths.tmp, join(this.paths.root, '_spool')]) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        const p = join(dir, n);
        if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
      }
    }
  }
}
