/**
 * kafkajs retry policies, one per role, named for where they are used, so no Kafka client,
 * producer or consumer carries a bare retry count. kafkajs retries with jittered exponential
 * back-off (factor 0.2, doubling, capped at maxRetryTime); a producer's or consumer's own policy
 * replaces the client's field by field, so every policy that retries names all three numbers and
 * does not depend on the client it is used with.
 *
 * What the numbers add up to (before jitter): 8 retries from 200 ms capped at 5 s wait about
 * 21 s in all; 5 from 200 ms about 6 s; 3 from 100 ms capped at 1 s under a second.
 */
import type { RetryOptions } from 'kafkajs';

export type KafkaRetryPolicy = Readonly<Pick<RetryOptions, 'retries' | 'initialRetryTime' | 'maxRetryTime'>>;

/** Every consumer: kafkajs' own count for consumers, with the client's timings. */
const CONSUMER: KafkaRetryPolicy = { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 };

export const KAFKA_RETRY = {
  /**
   * The client default (createKafka): admin requests (topic and offset look-ups at start-up),
   * metadata and connections. Rides out a broker restart (about 20 s) before a start-up fails.
   */
  CLIENT: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  /**
   * The collector's producer: an HTTP request waits on the acknowledgement, so a dead broker
   * must become a 503 with Retry-After within about a second, never a hung request.
   */
  COLLECTOR_PRODUCER: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
  /**
   * The speed consumer. When the retries run out kafkajs restarts the consumer from the committed
   * offsets (unless it stopped for good), which is harmless: Redis holds the applied offsets, so a
   * replayed batch is skipped.
   */
  SPEED_CONSUMER: CONSUMER,
  /**
   * The lake archiver's consumer. Same reasoning as speed: a restart reads again from the last
   * commit, and commits follow only files durably in the lake.
   */
  LAKE_CONSUMER: CONSUMER,
  /**
   * Dead-letter producers (the DLQ writer every consumer uses, and replay into the events topic):
   * a consumer commits only after its dead letters are acknowledged, so this retries as long as
   * the client does before the batch fails and is read again.
   */
  DLQ_PRODUCER: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  /** The DLQ archiver and the site-rate watcher: restarted by kafkajs like every consumer. */
  DLQ_CONSUMER: CONSUMER,
  /** The bundled registry's writes to its `_schemas` topic: a registration waits on it, as long as the client would. */
  REGISTRY_PRODUCER: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
  /** The bundled registry's reader of `_schemas`. */
  REGISTRY_CONSUMER: CONSUMER,
  /**
   * One-shot "does a broker answer?" (`stack up` looking for a running broker, a stopping process
   * telling a slow drain from a broker that is gone): the answer is needed at once.
   */
  PROBE: { retries: 0 },
} as const satisfies Record<string, KafkaRetryPolicy>;
