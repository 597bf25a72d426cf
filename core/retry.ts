import { TwinlaneError, isRetriable } from './errors.ts';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Which errors are worth another attempt; defaults to `isRetriable`. */
  shouldRetry?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 };

export class RetriesExhaustedError extends TwinlaneError {
  constructor(attempts: number, cause: unknown) {
    super('RETRIES_EXHAUSTED', `gave up after ${attempts} attempts: ${cause instanceof Error ? cause.message : String(cause)}`, {
      retriable: false,
      cause,
    });
  }
}

/** Full-jitter exponential back-off, capped. */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Runs `fn` until it succeeds, a non-retriable error occurs (re-thrown as is), or the
 * attempts run out (RetriesExhaustedError wrapping the last cause).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!shouldRetry(err)) throw err;
      if (attempt >= options.attempts) throw new RetriesExhaustedError(attempt, err);
      const delay = backoffDelay(attempt, options.initialDelayMs, options.maxDelayMs);
      options.onRetry?.(err, attempt, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
