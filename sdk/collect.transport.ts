/**
 * One POST /v1/collect, sent until the collector answers it for good: retried on 429, 5xx,
 * network errors and timeouts (after Retry-After when the collector gives one, otherwise an
 * exponential jittered back-off), never on another 4xx. The body is sent byte for byte the same
 * on every attempt, so the events keep their ids and a retry of a request that did land is
 * deduplicated downstream (the batch layer dedupes by event id).
 *
 * Used by TwinlaneClient for typed events, and usable alone by callers that build their own
 * bodies (the load generator sends malformed events on purpose).
 */
import { parseTransportOptions, type TransportOptions, type TransportOptionsInput } from './options.ts';
import { backoffDelay, parseRetryAfter, retryAfterDelay, sleep, verdictOf } from './retry.policy.ts';
import type { CollectAnswer, CollectErrorBody } from './types.ts';

/** Whom a request is for, and its request-level context. */
export interface CollectTarget {
  site: string;
  writeKey: string;
  /** Per-request headers (user-agent, x-forwarded-for, content-encoding...), over the options' ones. */
  headers?: Record<string, string>;
}

interface Attempts {
  /** Attempts made, the first included. */
  attempts: number;
  /** Status of every attempt, in order; 0 for a network error or timeout. */
  statuses: number[];
}

export type SendResult =
  /**
   * The collector processed the events: 202, or 400 with every event refused. `answer` is
   * undefined when a 2xx carried no readable per-event results (a proxy in between): all accepted.
   */
  | ({ kind: 'answered'; status: number; answer: CollectAnswer | undefined } & Attempts)
  /** A 4xx for the request as a whole; sending it again would get the same answer. */
  | ({ kind: 'refused'; status: number; error: CollectErrorBody } & Attempts)
  /** Still failing after the last attempt, or the caller's signal aborted the wait. */
  | ({ kind: 'gave-up'; status: number; reason: string; aborted: boolean; cause?: unknown } & Attempts);

type AttemptOutcome =
  | { final: true; result: Extract<SendResult, { kind: 'answered' | 'refused' }>['kind']; status: number; body: unknown }
  | { final: false; status: number; retryAfterMs: number | undefined; reason: string; cause?: unknown };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The collector's per-event answer, read defensively: a proxy in between may answer anything. */
function answerOf(body: unknown): CollectAnswer | undefined {
  if (!isRecord(body) || !Array.isArray(body.rejected)) return undefined;
  return { accepted: typeof body.accepted === 'number' ? body.accepted : 0, rejected: body.rejected as CollectAnswer['rejected'] };
}

function errorOf(status: number, body: unknown): CollectErrorBody {
  const e = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  return { code: typeof e?.code === 'string' ? e.code : `HTTP_${status}`, message: typeof e?.message === 'string' ? e.message : `the collector answered ${status}` };
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'no answer in time';
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  const detail = cause?.code ?? cause?.message;
  return `network error${detail ? ` (${detail})` : ''}: ${err instanceof Error ? err.message : String(err)}`;
}

export class CollectTransport {
  readonly options: TransportOptions;
  private readonly url: string;

  constructor(options: TransportOptionsInput, private readonly random: () => number = Math.random) {
    this.options = parseTransportOptions(options);
    this.url = new URL('/v1/collect', this.options.endpoint).toString();
  }

  /** Sends `body` (a JSON array or object of events, possibly gzip'd) until it is answered for good. */
  async send(body: string | Uint8Array, target: CollectTarget, signal?: AbortSignal): Promise<SendResult> {
    const { retry } = this.options;
    const statuses: number[] = [];
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(body, target, signal);
      statuses.push(outcome.status);
      if (outcome.final) {
        if (outcome.result === 'answered') return { kind: 'answered', status: outcome.status, answer: answerOf(outcome.body), attempts: attempt, statuses };
        return { kind: 'refused', status: outcome.status, error: errorOf(outcome.status, outcome.body), attempts: attempt, statuses };
      }
      const giveUp = (reason: string, aborted: boolean): SendResult => ({ kind: 'gave-up', status: outcome.status, reason, aborted, cause: outcome.cause, attempts: attempt, statuses });
      if (signal?.aborted) return giveUp(`stopped while retrying: ${outcome.reason}`, true);
      if (attempt >= retry.maxAttempts) return giveUp(`${attempt} attempts, the last: ${outcome.reason}`, false);
      const fromRetryAfter = outcome.retryAfterMs !== undefined;
      const delayMs = fromRetryAfter ? retryAfterDelay(outcome.retryAfterMs!, retry.maxRetryAfterMs, this.random) : backoffDelay(attempt, retry.initialDelayMs, retry.maxDelayMs, this.random);
      try {
        this.options.onRetry?.({ attempt, status: outcome.status, delayMs, fromRetryAfter, reason: outcome.reason });
      } catch {
        // A caller's hook must not stop the delivery.
      }
      if (!(await sleep(delayMs, signal))) return giveUp(`stopped while waiting to retry: ${outcome.reason}`, true);
    }
  }

  private async attempt(body: string | Uint8Array, target: CollectTarget, signal: AbortSignal | undefined): Promise<AttemptOutcome> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      // Without this, fetch says "node", which the collector's bot detection (isbot) flags as a bot.
      'user-agent': '',
      ...this.options.headers,
      ...target.headers,
      // In headers, not the query string: the write key stays out of access logs.
      'x-twinlane-site': target.site,
      'x-twinlane-key': target.writeKey,
    };
    let res: Response;
    let text: string;
    try {
      // BodyInit wants Uint8Array<ArrayBuffer>; a Buffer (gzipSync) is typed over ArrayBufferLike but is one.
      res = await fetch(this.url, { method: 'POST', headers, body: body as BodyInit, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      // Read the whole body even when it is not needed: it frees the connection for the next request.
      text = await res.text();
    } catch (err) {
      // The request may or may not have landed; the same ids go again and the batch layer dedupes.
      return { final: false, status: 0, retryAfterMs: undefined, reason: describeNetworkError(err), cause: err };
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const verdict = verdictOf(res.status, answerOf(parsed) !== undefined);
    if (verdict === 'done') return { final: true, result: 'answered', status: res.status, body: parsed };
    if (verdict === 'refused') return { final: true, result: 'refused', status: res.status, body: parsed };
    const error = errorOf(res.status, parsed);
    return { final: false, status: res.status, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')), reason: `${res.status} ${error.code}: ${error.message}` };
  }
}
