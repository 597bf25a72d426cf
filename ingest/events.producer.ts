/**
 * The collector's Kafka producer: idempotent, acks from all in-sync replicas, and its own
 * micro-batcher (kafkajs has no linger setting). Requests hand over their events with
 * `send()`, which resolves only once Kafka acknowledged every one of them; events of many
 * requests travel in one `sendBatch`. One send is in flight at a time: kafkajs assigns
 * idempotence sequence numbers per send, and a single in-flight send keeps partitions in order.
 */
import { CompressionTypes, type Kafka, type Message, type Producer, type RecordMetadata } from 'kafkajs';
import { DependencyError, errorMessage } from '../core/errors.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { TopicMissingError } from '../core/kafka-topics.ts';
import { BaseService } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, type Metrics } from '../core/metrics.ts';
import { KeyPartitioner } from './key.partitioner.ts';
import { registerLz4Codec } from './lz4.codec.ts';
import type { ProducerOptions } from './options.ts';

/** Kafka did not acknowledge in time or could not be reached: the client should retry later. */
export class KafkaUnavailableError extends DependencyError {
  constructor(message: string, cause?: unknown) {
    super('KAFKA_UNAVAILABLE', message, cause);
  }
}

/** Too many events wait for Kafka already (backpressure), or the producer is shutting down. */
export class ProducerBusyError extends DependencyError {
  constructor(message: string) {
    super('COLLECTOR_BUSY', message);
  }
}

/** What /readyz answers: ready, or why not. */
export type Readiness = { ready: true } | { ready: false; reason: string };

interface Pending {
  messages: Message[];
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
  timer: NodeJS.Timeout;
}

export class EventsProducer extends BaseService {
  readonly name = 'events-producer';
  private producer: Producer | undefined;
  private connecting: Promise<void> | undefined;
  private queue: Pending[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private accepting = false;
  private downUntil = 0;
  private connected = false;
  private topicsChecked: Promise<void> | undefined;
  private topicsReady = false;
  private nextReadinessCheck = 0;
  /** Why the last connect, topic check or send failed (cleared by the next success). */
  private problem: string | undefined;
  /** Partitions the send in flight (one at a time) puts events in, as the partitioner chose them. */
  private readonly targeted = new Set<number>();
  private readonly m;

  constructor(
    private readonly deps: {
      kafka: Kafka;
      logger: Logger;
      metrics: Metrics;
      /**
       * Checks (and, when allowed, creates) the topics this producer and its dead-letter writer
       * need; run after connecting, until it succeeds once. Without it the topics are assumed.
       */
      checkTopics?: () => Promise<unknown>;
    },
    private readonly options: ProducerOptions,
  ) {
    super();
    const { metrics } = deps;
    this.m = {
      batches: metrics.counter('collector_kafka_batches_total', 'Kafka sends by result', ['result']),
      batchEvents: metrics.histogram('collector_kafka_batch_events', 'Events per Kafka send', [], [1, 10, 50, 100, 250, 500, 1000, 2500, 5000]),
      sendSeconds: metrics.histogram('collector_kafka_send_seconds', 'Time from send to acknowledgement by all in-sync replicas', [], LATENCY_BUCKETS),
      queued: metrics.gauge('collector_queued_events', 'Events waiting for a Kafka send'),
    };
    if (options.compression === 'lz4') registerLz4Codec();
  }

  protected async onStart(): Promise<void> {
    this.producer = this.createProducer();
    this.accepting = true;
    // A collector starts without Kafka (or without its topic) and answers 503 until it has both.
    await this.connectWithin(this.options.connectTimeoutMs).catch((err: unknown) => {
      if (err instanceof TopicMissingError) return; // logged by the check
      this.problem = 'kafka unreachable';
      this.deps.logger.warn({ event: 'kafka_connect_failed', err: errorMessage(err) }, 'Kafka unreachable at start; will retry on the first request');
    });
  }

  private createProducer(): Producer {
    // Retries are bounded so a dead broker turns into 503s within seconds, not a hung request (kafka-retry.ts).
    return this.deps.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: KAFKA_RETRY.COLLECTOR_PRODUCER,
      createPartitioner: () => {
        const partition = KeyPartitioner();
        return (args) => {
          const p = partition(args);
          this.targeted.add(p);
          return p;
        };
      },
    });
  }

  /**
   * kafkajs (2.2.4, tulios/kafkajs#1303) can resolve a send without writing some partitions: when
   * a leader dies mid-send and its partitions move to a broker that already answered for others,
   * its retry skips that broker. So a send counts only when every partition its events went to
   * answered without error; otherwise it failed (503, the client retries).
   */
  private checkWritten(written: RecordMetadata[]): void {
    const answered = new Set(written.filter((r) => r.errorCode === 0).map((r) => r.partition));
    const skipped = [...this.targeted].filter((p) => !answered.has(p));
    if (skipped.length > 0) throw new KafkaUnavailableError(`Kafka acknowledged the send without partitions ${skipped.join(', ')} (a leader moved during it)`);
  }

  /**
   * A failed send may have been written all the same (the broker wrote it, its answer was lost
   * with the broker). kafkajs then rolls its idempotence sequence numbers back, so the next send
   * reuses them, and the broker takes a batch of the same size for a duplicate of the written one:
   * it acknowledges it without writing it, and accepted events are lost (seen when the cluster
   * failover test killed a partition leader). A new producer has a new producer id: retried events
   * are written again (at worst twice; consumers and the batch job deduplicate by event id).
   */
  private renewProducer(): void {
    const old = this.producer;
    if (!old || !this.accepting) return;
    this.producer = this.createProducer();
    this.connecting = undefined;
    this.connected = false;
    void old.disconnect().catch(() => undefined);
  }

  protected async onStop(): Promise<void> {
    this.accepting = false;
    // Drain: everything already handed over is sent (or rejected back to its request) before disconnecting.
    while (this.queue.length > 0 || this.inflight) {
      if (!this.inflight) this.flush();
      await this.inflight;
    }
    clearTimeout(this.timer);
    const producer = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    this.connected = false;
    this.topicsChecked = undefined;
    this.topicsReady = false;
    await producer?.disconnect().catch(() => undefined);
  }

  /** Connected once, its topics exist, and no send failed in the last cool-down. */
  get healthy(): boolean {
    return this.accepting && this.connected && (this.topicsReady || !this.deps.checkTopics) && Date.now() >= this.downUntil;
  }

  /**
   * What /readyz reports. While not ready, asking starts another connect and topic check in the
   * background (at most once per cool-down), so a topic created meanwhile makes the collector
   * ready without waiting for traffic.
   */
  readiness(): Readiness {
    if (this.healthy) return { ready: true };
    const now = Date.now();
    if (this.accepting && now >= this.downUntil && now >= this.nextReadinessCheck) {
      this.nextReadinessCheck = now + this.options.cooldownMs;
      void this.connectWithin(this.options.connectTimeoutMs).then(() => (this.problem = undefined), () => undefined);
    }
    return { ready: false, reason: !this.accepting ? 'shutting down' : (this.problem ?? 'kafka unreachable') };
  }

  /** Resolves once Kafka acknowledged all `messages`; rejects with a retriable error otherwise. */
  send(messages: Message[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    if (!this.accepting) return Promise.reject(new ProducerBusyError('the collector is shutting down'));
    if (Date.now() < this.downUntil) return Promise.reject(new KafkaUnavailableError('Kafka is unreachable (last send failed moments ago)'));
    if (this.queued + messages.length > this.options.maxQueuedEvents) {
      return Promise.reject(new ProducerBusyError(`${this.queued} events already wait for Kafka (limit ${this.options.maxQueuedEvents})`));
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { messages, resolve, reject, settled: false, timer: undefined as unknown as NodeJS.Timeout };
      entry.timer = setTimeout(() => {
        this.markDown();
        this.settle([entry], new KafkaUnavailableError(`Kafka did not acknowledge within ${this.options.ackTimeoutMs} ms`));
      }, this.options.ackTimeoutMs);
      this.queue.push(entry);
      this.queued += messages.length;
      this.m.queued.set(this.queued);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inflight) return; // the send in flight flushes the queue when it finishes
    if (this.queued >= this.options.maxBatchMessages) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inflight || this.queue.length === 0) return;
    const batch: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && (count === 0 || count + this.queue[0]!.messages.length <= this.options.maxBatchMessages)) {
      const entry = this.queue.shift()!;
      count += entry.messages.length;
      batch.push(entry);
    }
    this.queued -= count;
    this.m.queued.set(this.queued);
    this.inflight = this.sendBatch(batch, count).finally(() => {
      this.inflight = undefined;
      // Whatever queued meanwhile has waited long enough: send it right away.
      if (this.queue.length > 0) this.flush();
    });
  }

  private async sendBatch(batch: Pending[], count: number): Promise<void> {
    const live = batch.filter((e) => !e.settled);
    if (live.length === 0) return;
    const started = process.hrtime.bigint();
    try {
      await this.connectWithin(this.options.connectTimeoutMs);
      this.targeted.clear();
      const written = await this.producer!.sendBatch({
        acks: -1,
        compression: this.options.compression === 'lz4' ? CompressionTypes.LZ4 : CompressionTypes.None,
        topicMessages: [{ topic: this.options.topic, messages: live.flatMap((e) => e.messages) }],
      });
      this.checkWritten(written);
      this.problem = undefined;
      this.m.batches.inc({ result: 'ok' });
      this.m.batchEvents.observe(count);
      this.m.sendSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.settle(live);
    } catch (err) {
      this.markDown();
      this.m.batches.inc({ result: 'failed' });
      if (err instanceof TopicMissingError) {
        // Not an outage: the answer names the topic (the check logged it).
        this.settle(live, err);
        return;
      }
      this.problem = 'kafka unreachable';
      this.renewProducer();
      this.deps.logger.error({ event: 'kafka_send_failed', events: count, err: errorMessage(err) }, 'Kafka send failed; requests get 503');
      this.settle(live, new KafkaUnavailableError(`Kafka did not acknowledge the events: ${errorMessage(err)}`, err));
    }
  }

  private markDown(): void {
    this.downUntil = Date.now() + this.options.cooldownMs;
  }

  private settle(entries: Pending[], err?: Error): void {
    for (const e of entries) {
      if (e.settled) continue;
      e.settled = true;
      clearTimeout(e.timer);
      if (err) e.reject(err);
      else e.resolve();
    }
  }

  /**
   * The client's own connection retries can take many seconds; requests do not wait for them.
   * The attempt goes on in the background and later sends reuse it.
   */
  private async connectWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KafkaUnavailableError(`no connection to Kafka within ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.ensureConnected(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private ensureConnected(): Promise<void> {
    if (!this.producer) return Promise.reject(new ProducerBusyError('the producer is not started'));
    this.connecting ??= this.producer.connect().then(
      () => {
        this.connected = true;
      },
    ).catch((err: unknown) => {
      this.connecting = undefined;
      throw new KafkaUnavailableError(`cannot connect to Kafka: ${errorMessage(err)}`, err);
    });
    return this.connecting.then(() => this.ensureTopics());
  }

  /** Concurrent callers share one check; a failed one is forgotten so the next call checks again. */
  private ensureTopics(): Promise<void> {
    const check = this.deps.checkTopics;
    if (!check || this.topicsReady) return Promise.resolve();
    this.topicsChecked ??= check().then(
      () => {
        this.topicsReady = true;
        this.problem = undefined;
      },
      (err: unknown) => {
        this.topicsChecked = undefined;
        if (err instanceof TopicMissingError) {
          // Logged once per change, not once per cool-down of a collector under traffic.
          if (this.problem !== err.message) this.deps.logger.error({ event: 'kafka_topic_missing', topics: err.topics }, err.message);
          this.problem = err.message;
          throw err;
        }
        throw new KafkaUnavailableError(`cannot check the Kafka topics: ${errorMessage(err)}`, err);
      },
    );
    return this.topicsChecked;
  }
}
