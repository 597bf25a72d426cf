/**
 * The speed consumer (group `speed`): decodes each partition batch, skips what batch already
 * covers or what retention would drop, dead-letters what does not decode, rolls the rest up
 * per site and minute and applies it to Redis with its offset (compare-and-set), and only
 * then resolves and commits the Kafka offsets. A replayed batch is applied once.
 */
import type { ErasureList } from '../core/erasure.list.ts';
import { heartbeatIntervalOf } from '../core/kafka-heartbeat.ts';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { RedisClient } from '../core/redis-client.ts';
import { BaseService } from '../core/lifecycle.ts';
import { DependencyError, errorMessage } from '../core/errors.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import type { Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, type Metrics } from '../core/metrics.ts';
import type { WatermarkSource } from '../core/views.ts';
import { CircuitOpenError, classifyDecodeFailure, decodeDeadLetter, type CircuitBreaker, type DeadLetterWriter, type NewDeadLetter } from '../dlq/index.ts';
import type { EventCodec, RegistryClient } from '../schemas/index.ts';
import { codecDecoder, ProjectedDecoder, type RollupDecoder } from './event.decoder.ts';
import type { SpeedOptions } from './options.ts';
import { MINUTE_MS, SpeedKeys } from './redis.keys.ts';
import { EpochStore } from './epoch.store.ts';
import { EpochTracker } from './epoch.tracker.ts';
import { ApplyCoalescer, type RoundSeat } from './apply.coalescer.ts';
import { offsetAbove, SiteRollupBuilder } from './rollup.aggregator.ts';
import { RollupWriter } from './rollup.writer.ts';
import type { BatchPosition, PropertyKeys, SiteRollup } from './types.ts';
import { WatermarkCache } from './watermark.cache.ts';

export interface SpeedConsumerDeps {
  kafka: Kafka;
  redis: RedisClient;
  /** Writer schemas by id: records are decoded into the rollup's fields only (event.decoder.ts). */
  registry?: RegistryClient;
  /** Full decode through a codec; used when no `registry` is given. */
  codec?: EventCodec;
  deadLetters: DeadLetterWriter;
  /** Stops the consumer when most of a batch would be dead-lettered. */
  breaker?: CircuitBreaker;
  watermark: WatermarkSource;
  logger: Logger;
  metrics: Metrics;
  options: SpeedOptions;
  /** Called when the consumer stops for good (circuit open, unrecoverable crash). */
  onFatal?: (err: unknown) => void;
  /** Erased visitors (Kafka still holds their records): never applied, by the consumer nor its rebuilds. */
  erasures?: ErasureList;
  /** A site's listed custom property keys (core/sites.ts `properties`), whose values are kept; absent: none. */
  propertyKeys?: PropertyKeys;
  clock?: () => number;
}

/** Attempts at one site's compare-and-set before the batch is retried whole. */
const MAX_CAS_ATTEMPTS = 5;

/** What a batch is judged against: W and the retention limit, fixed when the batch starts. */
interface BatchScope {
  watermark: number | null;
  oldest: number;
}

interface DecodedBatch {
  /** Per site, rolled up against the offset record this instance knows (or none, see `unverified`). */
  builders: Map<string, SiteRollupBuilder>;
  /** Sites whose offset record this instance has not seen since it joined: checked before applying. */
  unverified: string[];
  letters: NewDeadLetter[];
  skipped: { before_watermark: number; beyond_retention: number; before_epoch: number; erased: number };
  /** Earliest event time per site whose epoch was not known when it was folded. */
  unknownEpochFrom: Map<string, number>;
}

export class SpeedConsumer extends BaseService {
  readonly name = 'speed-consumer';
  private consumer: Consumer | undefined;
  private readonly writer: RollupWriter;
  private readonly coalescer: ApplyCoalescer;
  private readonly wm: WatermarkCache;
  private readonly now: () => number;
  private readonly decoder: RollupDecoder;
  private readonly positions = new Map<string, string>();
  /** `topic:partition` → site → offset this instance last saw in its record (see applyAll). */
  private readonly known = new Map<string, Map<string, string | null>>();
  private readonly lastCommit = new Map<string, number>();
  /** Positions applied to Redis but not committed yet (commits are throttled); flushed by a timer and on stop. */
  private readonly uncommitted = new Map<string, { topic: string; partition: number; offset: string }>();
  private flushTimer: NodeJS.Timeout | undefined;
  private fatal: unknown;
  private stopping = false;
  private readonly epochs: EpochTracker;
  /** The last batch's heartbeat: kept alive while a full Redis makes a batch wait. */
  private heartbeat: (() => Promise<void>) | undefined;
  private readonly m;

  constructor(private readonly deps: SpeedConsumerDeps) {
    super();
    const { options, metrics } = deps;
    this.writer = new RollupWriter({
      redis: deps.redis,
      keys: new SpeedKeys(options.keyPrefix),
      ttlMs: options.ttlMs,
      sessionIdleMs: options.sessionIdleMs,
      ...(options.maxMembers ? { maxMembers: options.maxMembers } : {}),
      ...(options.dedupeMs ? { dedupeMs: options.dedupeMs } : {}),
      onFull: (waited) => this.onRedisFull(waited),
      stopping: () => this.stopping,
      ...(options.replicaWaitMs ? { replicaWaitMs: options.replicaWaitMs } : {}),
    });
    this.wm = new WatermarkCache(deps.watermark, options.watermarkRefreshMs, deps.logger);
    this.now = deps.clock ?? Date.now;
    if (deps.registry) this.decoder = new ProjectedDecoder(deps.registry);
    else if (deps.codec) this.decoder = codecDecoder(deps.codec);
    else throw new Error('SpeedConsumer needs a registry or a codec');
    this.m = {
      consumed: metrics.counter('speed_events_consumed_total', 'Records read from the events topic'),
      applied: metrics.counter('speed_events_applied_total', 'Events rolled up into Redis'),
      skipped: metrics.counter('speed_events_skipped_total', 'Events not applied, by reason', ['reason']),
      dead: metrics.counter('speed_dead_letters_total', 'Records dead-lettered by the speed consumer, by code', ['code']),
      batch: metrics.histogram('speed_batch_seconds', 'Time to decode, roll up and apply one partition batch', [], LATENCY_BUCKETS),
      lag: metrics.gauge('speed_consumer_lag', 'Records behind the partition high watermark', ['topic', 'partition']),
      conflicts: metrics.counter('speed_apply_conflicts_total', 'Compare-and-set conflicts on offset records (another instance or a replay got there first)'),
      watermark: metrics.gauge('speed_watermark_ms', 'Batch watermark W the consumer skips below (0: none)'),
      rounds: metrics.counter('speed_apply_rounds_total', 'Redis write rounds (each folds the partition batches handed over together)'),
      full: metrics.gauge('speed_redis_full', '1 while Redis refuses writes at maxmemory (the consumer waits; Kafka keeps the events)'),
      fullWaits: metrics.counter('speed_redis_full_waits_total', 'Pauses taken because Redis was full'),
    };
    this.coalescer = new ApplyCoalescer(this.writer, { maxPerRound: options.partitionsPerRound, onRound: () => this.m.rounds.inc() });
    this.epochs = new EpochTracker({
      store: new EpochStore(deps.redis, new SpeedKeys(options.keyPrefix)),
      rebuild: {
        kafka: deps.kafka,
        topic: options.topic,
        groupId: options.groupId,
        decoder: this.decoder,
        writer: this.writer,
        watermark: () => this.wm.current,
        ttlMs: options.ttlMs,
        logger: deps.logger,
        owner: `${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
        leaseMs: options.rebuildLeaseMs ?? 30_000,
        ...(deps.erasures ? { erasures: deps.erasures } : {}),
        ...(deps.propertyKeys ? { propertyKeys: deps.propertyKeys } : {}),
        tailMs: options.rebuildTailMs ?? 10 * MINUTE_MS,
        clock: this.now,
      },
      logger: deps.logger,
      metrics,
      checkMs: options.epochCheckMs ?? 2_000,
      clock: this.now,
    });
  }

  /**
   * The group was moved back to `from` (speed/rebuild.job.ts, the consumer stopped): a site without
   * an epoch gets one covering from `from`, its events all read again by this consumer.
   */
  replayingFrom(from: number): void {
    this.epochs.replayingFrom(from);
  }

  /** Highest offset resolved per `topic:partition` by this instance (for rebuild progress). */
  get progress(): ReadonlyMap<string, string> {
    return this.positions;
  }

  protected async onStart(): Promise<void> {
    const { kafka, options, logger } = this.deps;
    this.fatal = undefined;
    this.stopping = false;
    await this.checkEvictionPolicy();
    const fresh = await this.groupIsFresh();
    await this.wm.start();
    const consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: heartbeatIntervalOf(options.sessionTimeoutMs),
      maxBytesPerPartition: options.maxBytesPerPartition,
      maxBytes: options.maxBytesPerPartition * 4,
      maxWaitTimeInMs: options.maxWaitMs,
      retry: { ...KAFKA_RETRY.SPEED_CONSUMER, restartOnFailure: async () => this.fatal === undefined },
    });
    // After a rebalance a partition may come back from another instance: guess nothing.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.known.clear();
      this.uncommitted.clear();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      logger.error({ event: 'speed_consumer_crashed', err: payload.error });
      this.deps.onFatal?.(this.fatal ?? payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      // kafkajs' auto-commit commits after every batch whatever the interval; commits are ours
      // (commitIfDue): Redis holds the exact applied offsets, so a replay is harmless and rare
      // commits save a broker round trip per batch.
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.consumer = consumer;
    // Without this, the last batches before a quiet period would stay uncommitted: lag would never
    // reach 0 and a restart would replay them (harmless for counts, wrong for lag).
    this.flushTimer = setInterval(() => void this.flushCommits(), Math.max(250, options.commitIntervalMs));
    this.flushTimer.unref();
    this.epochs.start(fresh);
    logger.info({ event: 'speed_consumer_started', topic: options.topic, group: options.groupId, prefix: options.keyPrefix });
  }

  protected async onStop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.flushTimer);
    await this.epochs.stop();
    this.flushTimer = undefined;
    const consumer = this.consumer;
    this.wm.stop();
    // kafkajs commits only while the group runs: flush first; a batch still in flight is at most
    // replayed after a restart, which the offset records make harmless.
    await this.flushCommits();
    await consumer?.stop();
    this.consumer = undefined;
    await consumer?.disconnect();
  }

  /** True when the group has committed no offset of the topic: its first reader reads everything. */
  private async groupIsFresh(): Promise<boolean> {
    const admin = this.deps.kafka.admin();
    try {
      await admin.connect();
      const [t] = await admin.fetchOffsets({ groupId: this.deps.options.groupId, topics: [this.deps.options.topic] });
      return (t?.partitions ?? []).every((p) => Number(p.offset) < 0);
    } catch {
      return false; // unknown: a rebuild too many is slower, never wrong
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * An evicting Redis would drop counters and offset records silently (a replay then counts twice):
   * said loudly at start. CONFIG may be refused (managed Redis): then nothing is known, nothing said.
   */
  private async checkEvictionPolicy(): Promise<void> {
    const policy = await this.deps.redis.config('GET', 'maxmemory-policy').then((r) => (r as string[])[1], () => undefined);
    if (policy && policy !== 'noeviction') {
      this.deps.logger.error({ event: 'speed_redis_evicts', policy, hint: 'set maxmemory-policy noeviction on the speed Redis: evicted keys are lost counts, a full noeviction Redis only pauses the consumer' });
    }
  }

  /** Backpressure from a full Redis: the batch waits in place (heartbeating), logged once per episode. */
  private async onRedisFull(waitedMs: number): Promise<void> {
    if (waitedMs < 0) {
      this.m.full.set(0);
      this.deps.logger.info({ event: 'speed_redis_writable_again' });
      return;
    }
    this.m.fullWaits.inc();
    if (waitedMs === 0) {
      this.m.full.set(1);
      this.deps.logger.warn({ event: 'speed_redis_full', hint: 'Redis is at maxmemory: the speed consumer waits until keys expire or maxmemory is raised; events stay in Kafka' });
    }
    await this.heartbeat?.().catch(() => undefined);
  }

  /** Commits every pending position (applied to Redis, not yet committed to Kafka). */
  private async flushCommits(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer || this.uncommitted.size === 0) return;
    const batch = [...this.uncommitted.entries()];
    for (const [key, p] of batch) if (this.uncommitted.get(key) === p) this.uncommitted.delete(key);
    try {
      await consumer.commitOffsets(batch.map(([, p]) => p));
      for (const [key] of batch) this.lastCommit.set(key, this.now());
    } catch (err) {
      // Partitions may have moved in a rebalance; the next owner commits them after applying.
      this.deps.logger.warn({ event: 'speed_commit_flush_failed', err: errorMessage(err) });
    }
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    if (this.fatal) throw this.fatal;
    // Before the first await: every handler of a fetch has a seat before any can submit.
    const seat = this.coalescer.enter();
    try {
      await this.processBatch(payload, seat);
    } finally {
      seat.release();
    }
  }

  private async processBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }: EachBatchPayload, seat: RoundSeat): Promise<void> {
    const t0 = performance.now();
    this.heartbeat = heartbeat;
    const pos: BatchPosition = { topic: batch.topic, partition: batch.partition };
    const w = this.wm.current;
    this.m.watermark.set(w ?? 0);
    const scope: BatchScope = { watermark: w, oldest: this.now() - this.deps.options.ttlMs };
    const decoded = await this.decode(pos, batch.messages, scope);
    try {
      this.deps.breaker?.check(batch.messages.length, decoded.letters.length);
    } catch (err) {
      if (err instanceof CircuitOpenError) {
        this.fatal = err;
        this.deps.onFatal?.(err);
      }
      throw err;
    }
    if (decoded.letters.length > 0) await this.deps.deadLetters.write(decoded.letters);
    await heartbeat();
    await this.verify(decoded, batch.messages, pos, scope);
    await this.applyInRound(decoded.builders, batch.messages, pos, scope, seat);
    const last = batch.lastOffset();
    resolveOffset(last);
    await this.commitIfDue(pos, last, commitOffsetsIfNecessary);
    this.positions.set(`${pos.topic}:${pos.partition}`, last);
    this.m.consumed.inc(batch.messages.length);
    for (const l of decoded.letters) this.m.dead.inc({ code: l.code });
    for (const [reason, n] of Object.entries(decoded.skipped)) if (n) this.m.skipped.inc({ reason }, n);
    this.m.lag.set({ topic: pos.topic, partition: String(pos.partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
    this.m.batch.observe((performance.now() - t0) / 1000);
  }

  /** Commits the partition's position at most every `commitIntervalMs` (always after Redis has the batch). */
  private async commitIfDue(pos: BatchPosition, last: string, commit: EachBatchPayload['commitOffsetsIfNecessary']): Promise<void> {
    const key = `${pos.topic}:${pos.partition}`;
    const now = this.now();
    const offset = (BigInt(last) + 1n).toString();
    if (now - (this.lastCommit.get(key) ?? 0) < this.deps.options.commitIntervalMs) {
      this.uncommitted.set(key, { topic: pos.topic, partition: pos.partition, offset });
      return;
    }
    this.lastCommit.set(key, now);
    this.uncommitted.delete(key);
    await commit({ topics: [{ topic: pos.topic, partitions: [{ partition: pos.partition, offset }] }] });
  }

  /** Why an event is not rolled up (null: it is). `split`: where the site's epoch starts (before it, the rebuild's). */
  private static excluded(eventTime: number, scope: BatchScope, split = -Infinity): 'before_watermark' | 'beyond_retention' | 'before_epoch' | null {
    if (scope.watermark !== null && eventTime < scope.watermark) return 'before_watermark';
    if (eventTime < scope.oldest) return 'beyond_retention';
    return eventTime < split ? 'before_epoch' : null;
  }

  /** Decodes and folds each event as it comes (no list of decoded events is kept). */
  private async decode(pos: BatchPosition, messages: KafkaMessage[], scope: BatchScope): Promise<DecodedBatch> {
    const known = this.knownOf(pos);
    const out: DecodedBatch = { builders: new Map(), unverified: [], letters: [], skipped: { before_watermark: 0, beyond_retention: 0, before_epoch: 0, erased: 0 }, unknownEpochFrom: new Map() };
    const decoder = this.decoder;
    this.deps.erasures?.refresh();
    const erasures = this.deps.erasures?.empty === false ? this.deps.erasures : undefined;
    for (const msg of messages) {
      let event;
      try {
        event = decoder.decodeCached(msg.value) ?? (await decoder.decode(msg.value));
      } catch (err) {
        const failure = classifyDecodeFailure(err);
        if (!failure) throw err; // not the record's fault (the registry is down, say): retry the batch
        out.letters.push(decodeDeadLetter(failure, msg.value, { topic: pos.topic, partition: pos.partition, offset: msg.offset }));
        continue;
      }
      if (erasures?.erased(event.site_id, event.visitor_id)) {
        out.skipped.erased++;
        continue;
      }
      const epoch = this.epochs.get(event.site_id);
      const reason = SpeedConsumer.excluded(event.event_time, scope, epoch?.split);
      if (reason !== null) {
        out.skipped[reason]++;
        continue;
      }
      if (!epoch) {
        const seen = out.unknownEpochFrom.get(event.site_id);
        if (seen === undefined || event.event_time < seen) out.unknownEpochFrom.set(event.site_id, event.event_time);
      }
      let b = out.builders.get(event.site_id);
      if (!b) {
        const site = event.site_id;
        if (!known.has(site)) out.unverified.push(site);
        out.builders.set(site, (b = this.builder(site, known.get(site) ?? null, pos)));
      }
      b.add(msg.offset, event);
    }
    return out;
  }

  /** A site's builder for a partition batch; with dedupe on, ids are recorded with `<partition>:` and `exclude` offsets are not counted. */
  private builder(site: string, applied: string | null, pos: BatchPosition, exclude?: ReadonlySet<string>): SiteRollupBuilder {
    const props = this.deps.propertyKeys?.(site) ?? [];
    if (!this.deps.options.dedupeMs) return new SiteRollupBuilder(site, applied, undefined, props);
    return new SiteRollupBuilder(site, applied, { tag: `${pos.partition}:`, ...(exclude ? { exclude } : {}) }, props);
  }

  /**
   * Client retries count once: the event ids of `builders` (sites of one partition batch) are looked
   * up in the ids Redis keeps per site and event minute (SPEED_DEDUPE_WINDOW); one counted by another
   * record is a duplicate, and its site is folded again without it. The ids counted now are recorded
   * by the apply script, in the same atomic step as the counts (so a crash between cannot lose one or
   * keep a phantom), and that step refuses a call recording an id another record counted
   * (`duplicates`): this runs for the sites a call was refused for, applied alone.
   */
  private async dropDuplicates(builders: Map<string, SiteRollupBuilder>, messages: KafkaMessage[], pos: BatchPosition, scope: BatchScope): Promise<void> {
    if (!this.deps.options.dedupeMs) return;
    const asked = new Map<string, [number, string[]][]>();
    for (const [site, b] of builders) {
      const minutes = [...b.eventIds()];
      if (minutes.length > 0) asked.set(site, minutes);
    }
    if (asked.size === 0) return;
    const exclude = new Map<string, Set<string>>();
    for (const [site, found] of await this.writer.countedIds(asked)) {
      const b = builders.get(site)!;
      for (const { minute, id, at } of found) {
        const ours = b.countedBy(minute, id)!;
        if (at === ours) continue; // this very record (a replay the offset fence will skip)
        let set = exclude.get(site);
        if (!set) exclude.set(site, (set = new Set()));
        set.add(ours.slice(ours.indexOf(':') + 1));
      }
    }
    for (const [site, offsets] of exclude) {
      const before = builders.get(site)!;
      builders.set(site, await this.refold(site, before.appliedOffset, messages, scope, pos, offsets));
    }
  }

  /** Folds one site's events of the batch again, above `applied` (after a wrong guess of its record), leaving out `exclude` (duplicates). */
  private async refold(site: string, applied: string | null, messages: KafkaMessage[], scope: BatchScope, pos: BatchPosition, exclude?: ReadonlySet<string>): Promise<SiteRollupBuilder> {
    const b = this.builder(site, applied, pos, exclude);
    for (const msg of messages) {
      let event;
      try {
        event = this.decoder.decodeCached(msg.value) ?? (await this.decoder.decode(msg.value));
      } catch {
        continue; // dead-lettered by the first pass
      }
      if (event.site_id === site && SpeedConsumer.excluded(event.event_time, scope, this.epochs.get(site)?.split) === null) b.add(msg.offset, event);
    }
    return b;
  }

  private knownOf(pos: BatchPosition): Map<string, string | null> {
    const pkey = `${pos.topic}:${pos.partition}`;
    let known = this.known.get(pkey);
    if (!known) this.known.set(pkey, (known = new Map()));
    return known;
  }

  /**
   * Sites this instance has not written since it joined were folded as if nothing were applied;
   * their records are read now, and a site whose record reaches into the batch is folded again.
   */
  private async verify(decoded: DecodedBatch, messages: KafkaMessage[], pos: BatchPosition, scope: BatchScope): Promise<void> {
    // Sites met for the first time: their epochs first; a site whose epoch starts after some of
    // its events leaves those to the rebuild (counted as skipped when folded again).
    if (decoded.unknownEpochFrom.size > 0) {
      await this.epochs.learn([...decoded.unknownEpochFrom.keys()]);
      for (const [site, first] of decoded.unknownEpochFrom) {
        if (first >= this.epochs.get(site)!.split || !decoded.builders.has(site)) continue;
        const b = await this.refold(site, decoded.builders.get(site)!.appliedOffset, messages, scope, pos);
        decoded.skipped.before_epoch += decoded.builders.get(site)!.events - b.events;
        decoded.builders.set(site, b);
      }
    }
    if (decoded.unverified.length === 0) return;
    const known = this.knownOf(pos);
    for (const [site, record] of await this.writer.appliedOffsets(decoded.unverified, pos)) {
      known.set(site, record);
      const b = decoded.builders.get(site)!;
      if (record !== null && !offsetAbove(b.minOffset!, record)) decoded.builders.set(site, await this.refold(site, record, messages, scope, pos));
    }
  }

  /** Writes the batch with the others of its round (apply.coalescer.ts); conflicting sites alone. */
  private async applyInRound(builders: Map<string, SiteRollupBuilder>, messages: KafkaMessage[], pos: BatchPosition, scope: BatchScope, seat: RoundSeat): Promise<void> {
    const known = this.knownOf(pos);
    // Counts before the round folds other partitions into these builders.
    const own = [...builders].map(([site, b]) => ({ site, events: b.events, alreadyApplied: b.alreadyApplied, duplicates: b.duplicates, maxOffset: b.maxOffset }));
    const epochs = new Map<string, string>();
    for (const site of builders.keys()) {
      const e = this.epochs.get(site);
      if (e) epochs.set(site, e.id);
    }
    const conflicts = await seat.submit({ pos, builders, expected: known, epochs });
    // A conflict may be a new epoch (the site's data lost): learnt before folding again.
    if (conflicts.size > 0) await this.epochs.learn([...conflicts.keys()]);
    const alone = new Map<string, SiteRollupBuilder>();
    for (const o of own) {
      if (conflicts.has(o.site)) {
        const current = conflicts.get(o.site)!;
        known.set(o.site, current);
        alone.set(o.site, await this.refold(o.site, current, messages, scope, pos, builders.get(o.site)?.excluded));
        continue;
      }
      if (o.maxOffset !== null) known.set(o.site, o.maxOffset);
      if (o.events > 0) this.m.applied.inc(o.events);
      if (o.alreadyApplied > 0) this.m.skipped.inc({ reason: 'already_applied' }, o.alreadyApplied);
      if (o.duplicates > 0) this.m.skipped.inc({ reason: 'duplicate_event' }, o.duplicates);
    }
    if (alone.size > 0) {
      this.m.conflicts.inc(alone.size);
      await this.applyAlone(alone, messages, pos, scope);
    }
  }

  /**
   * Compare-and-set per site for one partition; a site that lost the race is folded again above
   * the offset the script found, one refused for a client's retry without the copies. A stale
   * guess of a record costs a retry, never a count.
   */
  private async applyAlone(builders: Map<string, SiteRollupBuilder>, messages: KafkaMessage[], pos: BatchPosition, scope: BatchScope): Promise<void> {
    const known = this.knownOf(pos);
    let pending = [...builders.keys()];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > MAX_CAS_ATTEMPTS) {
        throw new DependencyError('SPEED_APPLY_CONFLICT', `offset records of ${pending.length} sites kept moving during ${MAX_CAS_ATTEMPTS} attempts on ${pos.topic}:${pos.partition}`);
      }
      const items: { rollup: SiteRollup; expected: string | null; epoch?: string }[] = [];
      for (const site of pending) {
        const b = builders.get(site)!;
        const rollup = b.result();
        const epoch = this.epochs.get(site)?.id;
        if (rollup) items.push({ rollup, expected: known.get(site) ?? null, ...(epoch ? { epoch } : {}) });
        else this.m.skipped.inc({ reason: 'already_applied' }, b.alreadyApplied);
      }
      const results = await this.writer.apply(items, pos);
      // A refusal for copies passed the epoch check: only the others may be a new epoch.
      const refused = items.filter((_, i) => { const r = results[i]!; return !r.applied && !r.duplicates; }).map((i) => i.rollup.site);
      if (refused.length > 0) await this.epochs.learn(refused);
      pending = [];
      // Sites holding a client's retry of an event another record counted (the apply script
      // checks the ids it records): their ids looked up together below, the copies left out.
      const copies = new Map<string, SiteRollupBuilder>();
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const { rollup } = items[i]!;
        const b = builders.get(rollup.site)!;
        if (!r.applied && r.duplicates) {
          copies.set(rollup.site, b);
          continue;
        }
        if (!r.applied) {
          known.set(rollup.site, r.currentOffset);
          builders.set(rollup.site, await this.refold(rollup.site, r.currentOffset, messages, scope, pos, b.excluded));
          pending.push(rollup.site);
          continue;
        }
        known.set(rollup.site, rollup.maxOffset);
        this.m.applied.inc(rollup.events);
        if (b.alreadyApplied > 0) this.m.skipped.inc({ reason: 'already_applied' }, b.alreadyApplied);
        if (b.duplicates > 0) this.m.skipped.inc({ reason: 'duplicate_event' }, b.duplicates);
      }
      if (copies.size > 0) {
        await this.dropDuplicates(copies, messages, pos, scope);
        for (const [site, b] of copies) builders.set(site, b);
        pending.push(...copies.keys());
      }
      if (pending.length) this.m.conflicts.inc(pending.length);
    }
  }
}
