/** Types of the collector's public surface: the request context and per-event results. */
import type { TwinlaneEvent } from '../schemas/index.ts';
import type { DeadLetterCode } from '../dlq/index.ts';

/** What the pipeline knows about one event besides its JSON: who sent it and when. */
export interface CollectContext {
  /** Site the events are for (query `site=` or header `x-twinlane-site`). */
  siteId?: string;
  /**
   * Write key of the request. When given it is checked against the site's; an internal caller
   * that has already authenticated (the dead-letter replay run by an operator) leaves it out.
   */
  writeKey?: string;
  /** Client IP; used for country and the salted hash, never stored. */
  ip?: string;
  userAgent?: string;
  /** Epoch ms when the collector received the event (replay passes the first-seen time). */
  receivedAt: number;
}

/** An event ready for Kafka: the stored record, its key and its Confluent-framed bytes. */
export interface EncodedEvent {
  event: TwinlaneEvent;
  /** `site_id:visitor_id`, so one visitor stays in order within a partition. */
  key: string;
  bytes: Buffer;
}

/** One rejected event in the collector's answer. */
export interface Rejection {
  index: number;
  code: DeadLetterCode;
  message: string;
  field?: string;
}

/** The collector's answer to POST /v1/collect when the request itself was acceptable. */
export interface CollectResponse {
  accepted: number;
  rejected: Rejection[];
}

/** Answer for a request rejected as a whole (bad body, wrong key, Kafka down...). */
export interface CollectErrorResponse {
  error: { code: string; message: string };
}
