/**
 * The one retry helper (kafkajs' retrier is the model): bounded attempts, jittered exponential
 * back-off capped at a maximum, `bail()` for an error no further attempt can fix, a stop signal
 * that ends the back-off at once, and a final error that wraps the last cause. Kafka clients
 * retry inside kafkajs with the policies of kafka-retry.ts; everything else retries through here
 * (the scheduler's job runner, for one).
 */
import { TwinlaneError, errorMessage, isRetriable } from './errors.ts';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Which errors are worth another attempt; defaults to `isRetriable`. */
  shouldRetry?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /**
   * Stops the retries: no attempt starts once it is aborted (RetryAbortedError), a back-off ends
   * at once (RetryAbortedError), and an attempt that fails after it was aborted is not retried
   * (its error is thrown as it is).
   */
  signal?: AbortSignal;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 };

export class RetriesExhaustedError extends TwinlaneError {
  constructor(attempts: number, cause: unknown) {
    super('RETRIES_EXHAUSTED', `gave up after ${attempts} attempts: ${errorMessage(cause)}`, {
      retriable: false,
      cause,
    });
  }
}

/** The stop signal ended the retries; `reason` is the signal's. */
export class RetryAbortedError extends TwinlaneError {
  constructor(
    readonly reason: unknown,
    /** Attempts that ran before the stop. */
    readonly attemptsMade: number,
  ) {
    super('RETRY_ABORTED', `stopped: ${errorMessage(reason)}`, { retriable: false, cause: reason });
  }
}

/** Full-jitter exponential back-off, capped. */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Marks an error `bail()` was called with, so it passes through the retry loop untouched. */
class Bailed {
  constructor(readonly error: unknown) {}
}

/** Ends the retries with `err`, thrown as it is (an error no further attempt can fix). */
export type Bail = (err: unknown) => never;

const bail: Bail = (err) => {
  throw new Bailed(err);
};

/**
 * Runs `fn` until it succeeds, bails, a non-retriable error occurs (re-thrown as is), the signal
 * stops it, or the attempts run out (RetriesExhaustedError wrapping the last cause).
 */
export async function retry<T>(fn: (attempt: number, bail: Bail) => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetriable;
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new RetryAbortedError(signal.reason, attempt - 1);
    try {
      return await fn(attempt, bail);
    } catch (caught) {
      if (caught instanceof Bailed) throw caught.error;
      if (!shouldRetry(caught)) throw caught;
      if (attempt >= options.attempts) throw new RetriesExhaustedError(attempt, caught);
      if (signal?.aborted) throw caught;
      const delay = backoffDelay(attempt, options.initialDelayMs, options.maxDelayMs);
      options.onRetry?.(caught, attempt, delay);
      await sleep(delay, signal, attempt);
    }
  }
}

/** Waits `ms`, or until `signal` aborts (RetryAbortedError). */
function sleep(ms: number, signal: AbortSignal | undefined, attemptsMade: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RetryAbortedError(signal.reason, attemptsMade));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RetryAbortedError(signal!.reason, attemptsMade));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
