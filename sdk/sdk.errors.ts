/**
 * The SDK's one error class: a closed set of codes, the events concerned, the HTTP status when
 * there was one, and a retry verdict. Reported through `onError`, never thrown from track():
 * analytics must not break the caller's request path. Only bad options throw (at construction).
 */
import type { Rejection, WireEvent } from './types.ts';

export type SdkErrorCode =
  /** The options given to the constructor are invalid. */
  | 'INVALID_OPTIONS'
  /** The collector refused some events one by one (202 or 400 with `rejected`); never retried. */
  | 'EVENTS_REJECTED'
  /** The collector refused a whole request with a 4xx other than 429 (wrong key, origin, size...); never retried. */
  | 'REQUEST_REFUSED'
  /** 429, 5xx or network errors until the attempts ran out. */
  | 'RETRIES_EXHAUSTED'
  /** stop() waited `shutdownTimeoutMs` and gave up on what was left. */
  | 'SHUTDOWN_TIMEOUT'
  /** The queue was full: the oldest events were dropped (reported once per overflow). */
  | 'QUEUE_FULL';

export class TwinlaneSdkError extends Error {
  readonly code: SdkErrorCode;
  /** Whether sending the same events again later could succeed. */
  readonly retriable: boolean;
  /** HTTP status of the last answer; 0 for a network error; undefined when no request was involved. */
  readonly status: number | undefined;
  /** The events concerned (for EVENTS_REJECTED: only the refused ones). */
  readonly events: readonly WireEvent[];
  /** For EVENTS_REJECTED: the collector's reason per refused event, in the order of `events`. */
  readonly rejections: readonly Rejection[];

  constructor(
    code: SdkErrorCode,
    message: string,
    details: { status?: number; events?: readonly WireEvent[]; rejections?: readonly Rejection[]; retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TwinlaneSdkError';
    this.code = code;
    this.retriable = details.retriable ?? false;
    this.status = details.status;
    this.events = details.events ?? [];
    this.rejections = details.rejections ?? [];
  }
}
