import { describe, expect, it } from 'vitest';
import { DependencyError, UsageError } from './errors.ts';
import { RetriesExhaustedError, backoffDelay, retry } from './retry.ts';

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

  it('caps the back-off', () => {
    expect(backoffDelay(20, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(1, 100, 1000, () => 0)).toBe(50);
  });
});
