/**
 * When to send a request again, and after how long. Pure functions, kept apart from the HTTP
 * code so each rule is tested on its own. The SDK carries its own small copy of the back-off
 * (core/retry.ts has the server's): it is meant to ship without the server's code, and its
 * delays are directed by the collector (Retry-After), which core's helper does not take.
 */

/** What to do with an HTTP answer. */
export type Verdict = 'done' | 'retry' | 'refused';

/**
 * 2xx: done. 400 carrying per-event results (every event refused): done too, the events are
 * reported, not resent. 429 and 5xx: retry (the collector said "not now": Kafka unreachable,
 * busy, shutting down). Any other 4xx: refused, never retried, because sending the same bytes
 * again gets the same answer (wrong key, origin, size, media type, body).
 */
export function verdictOf(status: number, hasPerEventResults: boolean): Verdict {
  if (status >= 200 && status < 300) return 'done';
  if (status === 400 && hasPerEventResults) return 'done';
  if (status === 429 || status >= 500) return 'retry';
  return 'refused';
}

/**
 * Retry-After as milliseconds from `now`: delay-seconds (`"2"`) or an HTTP date
 * (`"Wed, 21 Oct 2026 07:28:00 GMT"`); a date in the past means "now" (0). Undefined when
 * absent or unreadable, so the caller falls back to its own back-off.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse also reads non-HTTP formats such as "2026"; require the day-name or weekday form of RFC 9110.
  if (!/^[A-Za-z]{3},? /.test(text) && !/^[A-Za-z]+, \d/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Exponential back-off with "equal jitter": between half and all of min(max, initial × 2^(n-1)).
 * Jitter spreads clients that failed together (a collector restart) so they do not come back
 * together; keeping half of the delay fixed keeps the back-off meaningful.
 */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A Retry-After is honoured as the minimum wait, capped at `maxMs`, plus up to 10 % (at most 1 s)
 * so the clients a collector sent away at once do not all return in the same millisecond.
 */
export function retryAfterDelay(retryAfterMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(retryAfterMs, maxMs);
  return Math.round(base + random() * Math.min(1_000, base * 0.1));
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (stop() ran out of time). */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
