/**
 * Contract 8: the fixed list of dead-letter codes and stages, and the dead-letter record.
 * Every stage of the pipeline reports failures with one of these codes; the list is
 * documented in dlq/README.md and is closed on purpose.
 */
export const STAGES = ['collect', 'decode', 'validate', 'enrich', 'speed', 'archive'] as const;
export type Stage = (typeof STAGES)[number];

export const DEAD_LETTER_CODES = {
  PAYLOAD_FORMAT: 'Not parseable: invalid JSON, invalid UTF-8, broken gzip, or bytes without the Confluent framing',
  SCHEMA_VIOLATION: 'Does not match the event schema (missing field, wrong type, unknown enum); the message names the field path',
  UNKNOWN_SCHEMA_ID: 'Confluent framing names a schema id the registry does not know',
  ENRICHMENT_FAILED: 'User-agent, geo or PII enrichment threw',
  SIZE_VIOLATION: 'Body, batch or field larger than allowed',
  CLOCK_SKEW: 'Event time outside the accepted window and the policy says dead-letter',
  STORAGE_FAILURE: 'Redis or the lake refused a record that decoded fine',
  UNAUTHORIZED: 'Unknown site or wrong write key',
} as const;
export type DeadLetterCode = keyof typeof DEAD_LETTER_CODES;

export interface SourcePosition {
  topic: string;
  partition: number;
  offset: string;
}

export interface DeadLetter {
  /**
   * Stable id of the dead letter (used by `dlq show ID` and replay). A letter with a source
   * record has one derived from (topic, partition, offset, stage), so every report of that
   * record's failure (a second consumer, a redelivered batch) is the same letter.
   */
  id: string;
  stage: Stage;
  code: DeadLetterCode;
  message: string;
  /** Field path for SCHEMA_VIOLATION, e.g. `properties.price` or `event_time`. */
  field?: string;
  siteId?: string;
  /** Epoch ms when the record first failed. */
  firstSeen: number;
  attempts: number;
  source?: SourcePosition;
  /** The original bytes, untouched. */
  payload: Buffer;
  /** How the payload is encoded, so replay knows how to read it. */
  payloadFormat: 'json' | 'avro-confluent' | 'binary';
  /** The component that wrote it (collector, speed, lake), when it said so. */
  reporter?: string;
  /**
   * What was redacted from the payload and message before the letter was stored (JSON and text
   * payloads: e-mail addresses and card numbers, contract 8), e.g. `email=1,card=2`; absent: nothing.
   */
  redacted?: string;
}

/** Kafka header names that carry the metadata; the message value is the original bytes. */
export const DLQ_HEADERS = {
  id: 'tl-dl-id',
  stage: 'tl-stage',
  code: 'tl-code',
  message: 'tl-message',
  field: 'tl-field',
  siteId: 'tl-site',
  firstSeen: 'tl-first-seen',
  attempts: 'tl-attempts',
  sourceTopic: 'tl-source-topic',
  sourcePartition: 'tl-source-partition',
  sourceOffset: 'tl-source-offset',
  payloadFormat: 'tl-payload-format',
  reporter: 'tl-reporter',
  redacted: 'tl-redacted',
} as const;

/** The result of one step for one record: values, not exceptions (only the consumer loop dead-letters). */
export type Outcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'dead-letter'; stage: Stage; code: DeadLetterCode; message: string; field?: string }
  | { kind: 'skip'; reason: string };

export const ok = <T>(value: T): Outcome<T> => ({ kind: 'ok', value });
export const deadLetter = (stage: Stage, code: DeadLetterCode, message: string, field?: string): Outcome<never> => ({
  kind: 'dead-letter',
  stage,
  code,
  message,
  ...(field === undefined ? {} : { field }),
});

/** Where a dead letter stands: never replayed, replayed into the events topic, or failed again on replay. */
export const LETTER_STATUSES = ['pending', 'replayed', 'failed-again'] as const;
export type LetterStatus = (typeof LETTER_STATUSES)[number];

/** A dead letter as the archiver stores it: plus where it sat in the DLQ topic. */
export interface ArchivedDeadLetter extends DeadLetter {
  dlqPartition: number;
  dlqOffset: string;
  archivedAt: number;
}

/** A dead letter read back from the store, with its current status. */
export interface StoredDeadLetter extends ArchivedDeadLetter {
  status: LetterStatus;
  /**
   * Every component that reported this letter: one source record that both the speed consumer
   * and the lake archiver could not decode is one letter (same id), seen by both.
   */
  seenBy: string[];
  /** Result of the latest replay attempt, when there was one. */
  lastCode?: DeadLetterCode;
  lastMessage?: string;
  lastField?: string;
  lastAttemptAt?: number;
}

/** One replay attempt's result, appended to the store's status log. */
export interface AttemptRecord {
  id: string;
  status: Exclude<LetterStatus, 'pending'>;
  /** The attempt count after this attempt. */
  attempts: number;
  code?: DeadLetterCode;
  message?: string;
  field?: string;
  at: number;
}

/** Selection used by `dlq list`, `stats` and `replay`; every given criterion must match. */
export interface LetterFilter {
  stage?: readonly Stage[];
  code?: readonly DeadLetterCode[];
  site?: readonly string[];
  status?: readonly LetterStatus[];
  ids?: readonly string[];
  /** First-seen time range [from, to), epoch ms. */
  from?: number;
  to?: number;
}

export interface LetterStats {
  bucket: number;
  stage: Stage;
  code: DeadLetterCode;
  status: LetterStatus;
  count: number;
}
