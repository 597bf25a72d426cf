/** Defaults of the dlq part that are not deployment configuration. */

import type { ConfigValues } from '../core/config.ts';

/**
 * Consumer group of the DLQ archiver (one group: each dead letter is archived once). By
 * default it follows the topic, so an isolated DLQ topic (tests, a second pipeline on one
 * broker) never shares its group with another topic's archiver.
 */
export function dlqArchiverGroup(config: Pick<ConfigValues, 'DLQ_GROUP' | 'DLQ_TOPIC'>): string {
  return config.DLQ_GROUP || `${config.DLQ_TOPIC}-archiver`;
}

/** Records replayed per Kafka send and per attempt-log file. */
export const REPLAY_CHUNK = 500;

/** Rows `dlq list` prints unless told otherwise. */
export const LIST_LIMIT = 50;
