import { describe, expect, it } from 'vitest';
import { DependencyError, UsageError } from './errors.ts';
import { RetriesExhaustedError, RetryAbortedError, backoffDelay, retry } from './retry.ts';

const fast = { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 };

describe('retry', () => {
  it('retries retriable errors and returns the first success', async () => {
    let n = 0;
    const v = await retry(async () => {
      if (++n < 3) throw new DependencyError('KAFKA_DOWN', 'down');
      return 'ok';
    }, fast);
    expect(v).toBe('ok');
    expect(n).toBe(3);
  });

  it('never retries a programmer or usage error', async () => {
    let n = 0;
    await expect(retry(async () => { n++; throw new UsageError('BAD_DATE', 'bad'); }, fast)).rejects.toBeInstanceOf(UsageError);
    expect(n).toBe(1);
  });

  it('wraps the last cause when attempts run out', async () => {
    const err = await retry(async () => { throw new DependencyError('X', 'still down'); }, fast).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect((err as Error).message).toContain('still down');
  });

  it('passes an error given to bail() through at once, retriable or not', async () => {
    let n = 0;
    const fatal = new DependencyError('TOPIC_GONE', 'gone for good');
    const err = await retry(async (_attempt, bail) => {
      n++;
      return bail(fatal);
    }, fast).catch((e: unknown) => e);
    expect(err).toBe(fatal);
    expect(n).toBe(1);
  });

  it('ends a back-off at once when stopped, and starts no attempt after the stop', async () => {
    const stop = new AbortController();
    let n = 0;
    const t0 = Date.now();
    const p = retry(async () => { n++; throw new DependencyError('X', 'down'); }, { attempts: 5, initialDelayMs: 60_000, maxDelayMs: 60_000, signal: stop.signal });
    setTimeout(() => stop.abort(new Error('stopping')), 20);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryAbortedError);
    expect(err).toMatchObject({ attemptsMade: 1, code: 'RETRY_ABORTED' });
    expect(Date.now() - t0).toBeLessThan(5_000);
    const before = await retry(async () => { n++; return 'ran'; }, { ...fast, signal: stop.signal }).catch((e: unknown) => e);
    expect(before).toMatchObject({ attemptsMade: 0 });
    expect(n).toBe(1);
  });

  it('caps the back-off', () => {
    expect(backoffDelay(20, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(50);
  });
});
