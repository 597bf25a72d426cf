/**
 * The Kafka topics of the pipeline, and the one check every service runs before it produces or
 * consumes: a topic that is missing is created (KAFKA_CREATE_TOPICS=true) or reported by name,
 * instead of surfacing later as an unreachable broker (kafkajs only says the topic-partition is
 * unknown, and a producer retries that until its requests time out).
 */
import type { Admin, ITopicConfig, ITopicMetadata, Kafka } from 'kafkajs';
import type { ConfigValues } from './config.ts';
import { TwinlaneError } from './errors.ts';
import type { Service } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import { retry } from './retry.ts';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
}

/** Whether a service may create what is missing, and with which replication factor (-1: the broker's default). */
export interface TopicPolicy {
  create: boolean;
  replicationFactor: number;
}

/** A topic a service needs does not exist and it may not create it. Not retriable: create it, or allow creation. */
export class TopicMissingError extends TwinlaneError {
  readonly topics: readonly string[];

  constructor(topics: readonly string[]) {
    const what = topics.length === 1 ? `topic ${topics[0]} does not exist` : `topics ${topics.join(', ')} do not exist`;
    super('TOPIC_MISSING', `${what} (set KAFKA_CREATE_TOPICS=true or create ${topics.length === 1 ? 'it' : 'them'})`);
    this.topics = topics;
  }
}

/** The pipeline's topics as configured (contract 3): events, dead letters, and the registry's compacted log. */
export function pipelineTopics(config: ConfigValues): { events: TopicSpec; dlq: TopicSpec; registry: TopicSpec } {
  return {
    events: { topic: config.EVENTS_TOPIC, numPartitions: config.EVENTS_PARTITIONS },
    dlq: { topic: config.DLQ_TOPIC, numPartitions: config.DLQ_PARTITIONS },
    registry: { topic: config.REGISTRY_TOPIC, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  };
}

export function topicPolicy(config: ConfigValues): TopicPolicy {
  return { create: config.KAFKA_CREATE_TOPICS, replicationFactor: config.KAFKA_REPLICATION_FACTOR };
}

/**
 * Creates the topics of `specs` that do not exist yet, when the policy allows it; otherwise
 * throws TopicMissingError naming them. Existing topics are left as they are. Resolves with the
 * topics it created (leaders elected). Safe when several services start at once: a topic another
 * one created meanwhile counts as existing.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], policy: TopicPolicy): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = [...new Map(specs.map((s) => [s.topic, s])).values()].filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  if (!policy.create) throw new TopicMissingError(missing.map((s) => s.topic));
  await createTopicsWithLeaders(admin, missing.map((s) => ({ ...s, replicationFactor: policy.replicationFactor })));
  return missing.map((s) => s.topic);
}

/**
 * Creates `topics` and resolves once every partition has a leader (waitForLeaders, not kafkajs'
 * own wait). Resolves false when they all existed already, as kafkajs' createTopics does.
 */
export async function createTopicsWithLeaders(admin: Admin, topics: ITopicConfig[]): Promise<boolean> {
  const created = await admin.createTopics({ waitForLeaders: false, topics });
  await waitForLeaders(admin, topics.map((t) => t.topic));
  return created;
}

/**
 * Resolves once every partition of `topics` has a leader. kafkajs' own `waitForLeaders` gives up
 * when the broker it asks has not heard of a topic yet ("does not host this topic-partition"),
 * which on a cluster happens between the controller creating it and every broker knowing it.
 * Resolves with the topics' metadata it last read.
 */
export async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs = 30_000): Promise<ITopicMetadata[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (md.topics.length === topics.length && md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return md.topics;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new TwinlaneError('TOPIC_NO_LEADER', `topics ${topics.join(', ')} have partitions without a leader after ${timeoutMs} ms`, { retriable: true });
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The end offsets of `topic` (kafkajs' `fetchTopicOffsets`), asked again for `timeoutMs` while the
 * broker answers with an error a retry can help (kafkajs marks them `retriable`). Just after a topic
 * is created, the metadata may already name a leader that does not know yet it leads the partition
 * and answers "not the leader for that topic-partition".
 */
export async function fetchTopicEnds(admin: Pick<Admin, 'fetchTopicOffsets'>, topic: string, timeoutMs = 30_000): Promise<Awaited<ReturnType<Admin['fetchTopicOffsets']>>> {
  const deadline = Date.now() + timeoutMs;
  // Bounded by the deadline, not a count: past it, or on an error kafkajs does not mark retriable, the error is thrown as it is.
  return retry(() => admin.fetchTopicOffsets(topic), {
    attempts: Number.POSITIVE_INFINITY,
    initialDelayMs: 100,
    maxDelayMs: 1_000,
    shouldRetry: (err) => (err as { retriable?: boolean }).retriable === true && Date.now() < deadline,
  });
}

/**
 * The check as the first service of a consumer process: start-up fails with TopicMissingError
 * (logged as `startup_failed`, naming the topic) before any consumer subscribes.
 */
export function topicsService(kafka: Kafka, specs: readonly TopicSpec[], policy: TopicPolicy, logger: Logger): Service {
  return {
    name: 'kafka-topics',
    start: async () => {
      const created = await ensureTopicsWith(kafka, specs, policy);
      if (created.length > 0) logger.info({ event: 'kafka_topics_created', topics: created }, `created ${created.join(', ')}`);
    },
    stop: async () => undefined,
  };
}

/** `ensureTopics` with an admin client of its own, connected for this call only. */
export async function ensureTopicsWith(kafka: Kafka, specs: readonly TopicSpec[], policy: TopicPolicy): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await ensureTopics(admin, specs, policy);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
