/**
 * Where the registry keeps its commands. `KafkaRegistryStore` is the real one: a log in a
 * single-partition compacted topic (`_schemas`). Each instance reads the topic from the
 * beginning into a RegistryState before it serves; a write is a command appended to the
 * topic and takes effect only when the instance reads it back, so the outcome (id, version,
 * or a conflict) is whatever the log order decides, the same on every instance.
 *
 * Every command has its own key (a UUID): compaction never drops or reorders a command,
 * so replaying the compacted log always rebuilds the same state (see README, "Storage").
 */
import { randomUUID } from 'node:crypto';
import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { fetchTopicEnds, waitForLeaders } from '../core/kafka-topics.ts';
import { BaseService } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { RegistryError, registryErrors } from './registry.errors.ts';
import { RegistryState } from './registry.state.ts';
import type { CommandOutcome, CommandResults, RegistryCommand } from './types.ts';

export interface RegistryStore {
  readonly schemas: RegistryState;
  execute<C extends RegistryCommand>(cmd: C): Promise<CommandOutcome<CommandResults[C['op']]>>;
}

/** The state machine without a log: for unit tests of the HTTP layer. */
export class MemoryRegistryStore implements RegistryStore {
  readonly schemas = new RegistryState();
  async execute<C extends RegistryCommand>(cmd: C): Promise<CommandOutcome<CommandResults[C['op']]>> {
    return this.schemas.apply(cmd);
  }
}

export interface KafkaRegistryStoreDeps {
  kafka: Kafka;
  topic: string;
  logger: Logger;
  metrics: Metrics;
  /** How long a write waits to read its own command back before answering 50002. */
  writeTimeoutMs?: number;
  /** How long start() waits to read the topic to its end. */
  catchUpTimeoutMs?: number;
}

/** Key and value of one log record. The key's UUID matches a write to its outcome. */
interface LogKey {
  keytype: 'COMMAND';
  id: string;
}
type LogValue = RegistryCommand & { at: number };

type Waiter = (outcome: CommandOutcome) => void;

export class KafkaRegistryStore extends BaseService implements RegistryStore {
  readonly name = 'registry-store';
  readonly schemas = new RegistryState();
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private readonly waiters = new Map<string, Waiter>();
  /** Next offset to apply; the log is read up to here. */
  private nextOffset = 0n;
  private readonly offsetListeners = new Set<() => void>();
  private readonly m;

  constructor(private readonly deps: KafkaRegistryStoreDeps) {
    super();
    const { metrics } = deps;
    this.m = {
      applied: metrics.counter('registry_commands_applied_total', 'Commands read from the registry log and applied', ['op', 'result']),
      skipped: metrics.counter('registry_log_records_skipped_total', 'Records in the registry topic that are not registry commands'),
      offset: metrics.gauge('registry_log_offset', 'Next offset of the registry topic to apply'),
      schemas: metrics.gauge('registry_schemas', 'Schema ids in use'),
      subjects: metrics.gauge('registry_subjects', 'Subjects with at least one live version'),
      crashes: metrics.counter('registry_consumer_crashes_total', 'Crashes of the consumer that reads the registry log'),
      writeSeconds: metrics.histogram('registry_write_seconds', 'Time from appending a command to applying it', []),
    };
  }

  protected async onStart(): Promise<void> {
    const { kafka, topic } = this.deps;
    const admin = kafka.admin();
    await admin.connect();
    let end: bigint;
    try {
      await this.ensureTopic(admin);
      const offsets = await fetchTopicEnds(admin, topic);
      end = BigInt(offsets[0]!.high);
    } finally {
      await admin.disconnect();
    }
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: KAFKA_RETRY.REGISTRY_PRODUCER });
    await this.producer.connect();
    // A group of its own: every instance reads the whole log and never commits offsets.
    this.consumer = kafka.consumer({ groupId: `twinlane-registry-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 500, retry: KAFKA_RETRY.REGISTRY_CONSUMER });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      // kafkajs restarts the consumer after retriable errors; otherwise reads stop and writes time out (50002).
      this.deps.logger.error({ event: 'registry_consumer_crashed', topic, restart: payload.restart, err: payload.error });
      this.m.crashes.inc();
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    await this.consumer.run({ autoCommit: false, eachBatch: (payload) => this.applyBatch(payload) });
    await this.waitForOffset(end, this.deps.catchUpTimeoutMs ?? 60_000, `reading ${topic} to offset ${end}`);
    this.deps.logger.info({ event: 'registry_caught_up', topic, offset: Number(end), schemas: this.schemas.schemaCount });
  }

  protected async onStop(): Promise<void> {
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    this.consumer = undefined;
    this.producer = undefined;
    for (const [key, waiter] of this.waiters) {
      waiter({ ok: false, error: registryErrors.backendStore('the registry is stopping') });
      this.waiters.delete(key);
    }
  }

  async execute<C extends RegistryCommand>(cmd: C): Promise<CommandOutcome<CommandResults[C['op']]>> {
    if (!this.producer) return { ok: false, error: registryErrors.backendStore('the registry store is not running') };
    const id = randomUUID();
    const key: LogKey = { keytype: 'COMMAND', id };
    const value: LogValue = { ...cmd, at: Date.now() };
    const started = process.hrtime.bigint();
    const timeoutMs = this.deps.writeTimeoutMs ?? 10_000;
    const outcome = new Promise<CommandOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve({ ok: false, error: registryErrors.timeout(`command not read back from ${this.deps.topic} within ${timeoutMs} ms`) });
      }, timeoutMs);
      this.waiters.set(id, (o) => {
        clearTimeout(timer);
        resolve(o);
      });
    });
    try {
      await this.producer.send({ topic: this.deps.topic, acks: -1, messages: [{ key: JSON.stringify(key), value: JSON.stringify(value) }] });
    } catch (err) {
      this.waiters.get(id)?.({ ok: false, error: registryErrors.backendStore((err as Error).message) });
      this.waiters.delete(id);
    }
    const result = await outcome;
    this.m.writeSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return result as CommandOutcome<CommandResults[C['op']]>;
  }

  private async ensureTopic(admin: Admin): Promise<void> {
    const { topic, logger } = this.deps;
    if (!(await admin.listTopics()).includes(topic)) {
      // Another instance may create it at the same moment; createTopics then answers false.
      await admin.createTopics({
        waitForLeaders: false,
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      }).catch((err: Error & { type?: string }) => {
        if (err.type !== 'TOPIC_ALREADY_EXISTS' && !/already exists/i.test(JSON.stringify((err as { errors?: unknown }).errors ?? ''))) throw err;
      });
      logger.info({ event: 'registry_topic_created', topic });
    }
    // Just created, a broker may not know the topic yet; this waits instead of failing start-up.
    const [meta] = await waitForLeaders(admin, [topic]);
    const partitions = meta?.partitions.length ?? 0;
    // Log order decides ids: it only exists within one partition.
    if (partitions !== 1) throw registryErrors.backendStore(`topic ${topic} has ${partitions} partitions; the registry needs exactly 1`);
  }

  private async applyBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    for (const message of batch.messages) {
      this.applyRecord(message.key, message.value);
      this.nextOffset = BigInt(message.offset) + 1n;
    }
    // Control records and compacted gaps still move us to the end of what was fetched.
    const fetchedEnd = BigInt(batch.lastOffset()) + 1n;
    if (fetchedEnd > this.nextOffset) this.nextOffset = fetchedEnd;
    this.m.offset.set(Number(this.nextOffset));
    this.m.schemas.set(this.schemas.schemaCount);
    this.m.subjects.set(this.schemas.subjectNames().length);
    for (const listener of this.offsetListeners) listener();
    await heartbeat();
  }

  private applyRecord(rawKey: Buffer | null, rawValue: Buffer | null): void {
    let key: LogKey;
    let value: LogValue;
    try {
      key = JSON.parse(rawKey?.toString('utf8') ?? 'null') as LogKey;
      value = JSON.parse(rawValue?.toString('utf8') ?? 'null') as LogValue;
      if (key?.keytype !== 'COMMAND' || typeof key.id !== 'string' || !value || typeof value.op !== 'string') throw new Error('not a command');
    } catch {
      // Someone else's record (or a tombstone): not ours to interpret; counting it is enough.
      this.m.skipped.inc();
      this.deps.logger.warn({ event: 'registry_record_skipped', topic: this.deps.topic });
      return;
    }
    const { at: _at, ...cmd } = value;
    let outcome: CommandOutcome;
    try {
      outcome = this.schemas.apply(cmd as RegistryCommand);
    } catch (err) {
      outcome = { ok: false, error: err instanceof RegistryError ? err : registryErrors.backendStore((err as Error).message) };
    }
    this.m.applied.inc({ op: cmd.op, result: outcome.ok ? 'ok' : String(outcome.error.errorCode) });
    const waiter = this.waiters.get(key.id);
    if (waiter) {
      this.waiters.delete(key.id);
      waiter(outcome);
    }
  }

  private waitForOffset(target: bigint, timeoutMs: number, what: string): Promise<void> {
    if (this.nextOffset >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = () => {
        if (this.nextOffset >= target) done();
      };
      const timer = setTimeout(() => {
        this.offsetListeners.delete(listener);
        reject(registryErrors.timeout(what));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.offsetListeners.delete(listener);
        resolve();
      };
      this.offsetListeners.add(listener);
    });
  }
}
