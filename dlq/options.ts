/** Defaults of the dlq part that are not deployment configuration. */

/** Consumer group of the DLQ archiver (one group: each dead letter is archived once). */
export const DLQ_ARCHIVER_GROUP = 'dlq-archiver';

/** Records replayed per Kafka send and per attempt-log file. */
export const REPLAY_CHUNK = 500;

/** Rows `dlq list` prints unless told otherwise. */
export const LIST_LIMIT = 50;
