import { afterEach, describe, expect, it, vi } from 'vitest';
import { heartbeatIntervalOf, withHeartbeats } from './kafka-heartbeat.ts';

describe('heartbeats', () => {
  afterEach(() => vi.useRealTimers());

  it('beats at most every second and at least every half second', () => {
    expect(heartbeatIntervalOf(30_000)).toBe(1_000);
    expect(heartbeatIntervalOf(6_000)).toBe(1_000);
    expect(heartbeatIntervalOf(4_500)).toBe(750);
    expect(heartbeatIntervalOf(1_000)).toBe(500);
  });

  it('heartbeats while the work waits, stops when it ends, and leaves a failed beat to the run loop', async () => {
    vi.useFakeTimers();
    let beats = 0;
    const heartbeat = () => (++beats === 2 ? Promise.reject(new Error('The group is rebalancing')) : Promise.resolve());
    const done = withHeartbeats(heartbeat, 1_000, () => new Promise<string>((res) => setTimeout(() => res('rolled'), 5_500)));
    await vi.advanceTimersByTimeAsync(5_500);
    await expect(done).resolves.toBe('rolled');
    expect(beats).toBe(5);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(beats).toBe(5);
  });

  it('stops beating when the work fails', async () => {
    vi.useFakeTimers();
    let beats = 0;
    const done = withHeartbeats(() => Promise.resolve(void beats++), 500, () => new Promise((_, rej) => setTimeout(() => rej(new Error('roll failed')), 1_200)));
    const settled = expect(done).rejects.toThrow('roll failed');
    await vi.advanceTimersByTimeAsync(1_200);
    await settled;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(beats).toBe(2);
  });
});
