import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { CircuitBreaker, CircuitOpenError } from './circuit-breaker.ts';

function breaker(threshold = 0.5, minBatch = 10) {
  const metrics = new Metrics();
  return { metrics, cb: new CircuitBreaker({ consumer: 'speed', threshold, minBatch, metrics, logger: silentLogger() }) };
}

describe('CircuitBreaker', () => {
  it('lets batches where at most the threshold share fails pass', () => {
    const { cb } = breaker();
    expect(() => cb.check(100, 50)).not.toThrow();
    expect(() => cb.check(100, 0)).not.toThrow();
    expect(cb.open).toBe(false);
  });

  it('trips above the threshold with a typed, non-retriable error and sets the metric', async () => {
    const { cb, metrics } = breaker();
    let caught: unknown;
    try {
      cb.check(100, 51);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CircuitOpenError);
    expect((caught as CircuitOpenError).code).toBe('CIRCUIT_OPEN');
    expect((caught as CircuitOpenError).retriable).toBe(false);
    expect((caught as CircuitOpenError).message).toContain('51 of 100');
    expect(cb.open).toBe(true);
    const text = await metrics.text();
    expect(text).toContain('twinlane_circuit_open{consumer="speed"} 1');
    expect(text).toContain('twinlane_circuit_trips_total{consumer="speed"} 1');
    cb.reset();
    expect(cb.open).toBe(false);
    expect(await metrics.text()).toContain('twinlane_circuit_open{consumer="speed"} 0');
  });

  it('never judges a batch smaller than minBatch', () => {
    const { cb } = breaker(0.5, 10);
    expect(() => cb.check(9, 9)).not.toThrow();
    expect(() => cb.check(10, 10)).toThrow(CircuitOpenError);
  });

  it('refuses nonsense options', () => {
    expect(() => breaker(1.5)).toThrow(RangeError);
    expect(() => breaker(0.5, 0)).toThrow(RangeError);
  });
});
