/**
 * The wire format of the collector's JSON event API (ingest/README.md, "The event API"), as
 * the SDK sends it, and what the SDK reports back. Written out here rather than imported from
 * ingest/: the SDK is a client of the HTTP API and must build without the server's code
 * (sdk/twinlane.client.test.ts checks these events against the collector's validator).
 */

/** Custom data: flat, string/number/boolean values (the collector stores them as strings). */
export type EventProps = Record<string, string | number | boolean>;

interface WireEventBase {
  /** UUID made by the SDK when the event is tracked: the dedupe key of a retried request. */
  id: string;
  /** Event time, epoch ms, taken when the event is tracked (so a retry keeps its original time). */
  ts: number;
  /** Absolute http(s) URL, at most 2048 characters. */
  url: string;
  visitor?: string;
  session?: string;
  referrer?: string | null;
  title?: string | null;
  props?: EventProps;
  screen_width?: number;
}

export interface PageviewEvent extends WireEventBase {
  type: 'pageview';
}

export interface CustomEvent extends WireEventBase {
  type: 'custom';
  /** At most 200 characters. */
  name: string;
}

export interface PurchaseEvent extends WireEventBase {
  type: 'purchase';
  /** Decimal amount in currency units, at most 6 decimals (stored exactly as micro-units). */
  revenue: number;
  /** ISO 4217 code, upper case. */
  currency: string;
}

/** One event as it goes over the wire. */
export type WireEvent = PageviewEvent | CustomEvent | PurchaseEvent;
export type EventType = WireEvent['type'];

/**
 * What a caller says about an event. `url` is required because the collector requires it. The
 * collector derives device, browser, OS, bot flag and country from a request's User-Agent and
 * client address, not from the body: `userAgent` and `ip` are sent as request headers, and
 * events with different ones go in different requests.
 */
export interface EventContext {
  url: string;
  /** Without it the collector derives a cookieless id from the client address and user agent (the server's, here). */
  visitor?: string;
  session?: string;
  referrer?: string | null;
  title?: string | null;
  props?: EventProps;
  screenWidth?: number;
  /** Event time; default: now. */
  timestamp?: number | Date;
  /** Your own idempotency key (a UUID); default: a new random UUID. */
  id?: string;
  /** The end user's User-Agent; default: none (the collector then records an unknown device, not a bot). */
  userAgent?: string;
  /** The end user's address, sent as X-Forwarded-For; honoured only when the collector trusts this host (COLLECTOR_TRUST_PROXY). */
  ip?: string;
}

/** One event the collector refused, from its answer (`index` is the position in the request). */
export interface Rejection {
  index: number;
  /** A dead-letter code such as SCHEMA_VIOLATION or SIZE_VIOLATION. */
  code: string;
  message: string;
  field?: string;
}

/** The collector's answer to a request it processed: 202, or 400 when every event was refused. */
export interface CollectAnswer {
  accepted: number;
  rejected: Rejection[];
}

/** The collector's answer to a request refused as a whole (401, 403, 413, 415, 400 on the body, 503). */
export interface CollectErrorBody {
  code: string;
  message: string;
}

/** A request the collector answered with per-event results. */
export interface Delivery {
  events: readonly WireEvent[];
  answer: CollectAnswer;
  /** Attempts it took, the first included. */
  attempts: number;
}

/** Why the SDK waits before sending a request again. */
export interface RetryInfo {
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** HTTP status of the failed attempt; 0 for a network error or timeout. */
  status: number;
  delayMs: number;
  /** True when the delay came from the collector's Retry-After header. */
  fromRetryAfter: boolean;
  reason: string;
}

/** Counters since the client was made. Every tracked event ends in exactly one of accepted, rejected, failed, dropped (or is still queued / in flight). */
export interface ClientStats {
  /** Events waiting in the queue. */
  queued: number;
  /** Events of the request being sent (retries included). */
  inFlight: number;
  accepted: number;
  /** Events the collector refused one by one (never retried; see onError). */
  rejected: number;
  /** Events of requests refused as a whole, out of retries, or cut off by stop()'s timeout. */
  failed: number;
  /** Events pushed out of the full queue (oldest first). */
  dropped: number;
  /** HTTP requests made, retries included. */
  requests: number;
  retries: number;
}
