/**
 * The collector's one catalogue of request-level failures: HTTP status, stable code, and
 * the dead-letter code under which the request's bytes are kept.
 */
import { TwinlaneError } from '../core/errors.ts';
import type { DeadLetter, DeadLetterCode } from '../dlq/index.ts';

export const COLLECT_ERRORS = {
  PAYLOAD_FORMAT: { status: 400, deadLetter: 'PAYLOAD_FORMAT' },
  NO_EVENTS: { status: 400, deadLetter: 'PAYLOAD_FORMAT' },
  REPEATED_PARAMETER: { status: 400, deadLetter: 'PAYLOAD_FORMAT' },
  UNAUTHORIZED: { status: 401, deadLetter: 'UNAUTHORIZED' },
  ORIGIN_NOT_ALLOWED: { status: 403, deadLetter: 'UNAUTHORIZED' },
  BODY_TOO_LARGE: { status: 413, deadLetter: 'SIZE_VIOLATION' },
  TOO_MANY_EVENTS: { status: 413, deadLetter: 'SIZE_VIOLATION' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, deadLetter: 'PAYLOAD_FORMAT' },
  KAFKA_UNAVAILABLE: { status: 503, deadLetter: undefined },
  TOPIC_MISSING: { status: 503, deadLetter: undefined },
  COLLECTOR_BUSY: { status: 503, deadLetter: undefined },
  SALT_UNAVAILABLE: { status: 503, deadLetter: undefined },
} as const satisfies Record<string, { status: number; deadLetter: DeadLetterCode | undefined }>;

export type CollectErrorCode = keyof typeof COLLECT_ERRORS;

/** A request rejected as a whole; `payload` is what gets dead-lettered (when the code calls for it). */
export class CollectError extends TwinlaneError {
  readonly status: number;
  constructor(
    code: CollectErrorCode,
    message: string,
    readonly payload?: { bytes: Buffer; format: DeadLetter['payloadFormat']; truncatedFrom?: number },
  ) {
    super(code, message, { retriable: COLLECT_ERRORS[code].status >= 500 });
    this.status = COLLECT_ERRORS[code].status;
  }
}
