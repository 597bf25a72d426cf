import { describe, expect, it } from 'vitest';
import { isoTime } from './iso-time.ts';

describe('isoTime', () => {
  it('equals Date#toISOString over random instants, in and out of order, and at the edges', () => {
    const edges = [0, -1, 1, 86_399_999, 86_400_000, -86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2026, 11, 31, 23, 59, 59, 999), new Date('0000-01-01T00:00:00.000Z').getTime(), new Date('0000-01-01T00:00:00.000Z').getTime() - 1, new Date('9999-12-31T23:59:59.999Z').getTime(), new Date('+010000-01-01T00:00:00.000Z').getTime(), 8.64e15, -8.64e15];
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const instants = [...edges, ...Array.from({ length: 20_000 }, () => Math.floor((random() - 0.3) * 4e12))];
    // In order too, as a series asks (the day is kept between calls).
    for (let t = Date.UTC(2026, 10, 1); t < Date.UTC(2026, 11, 3); t += 3_600_000 + 7) instants.push(t);
    for (const t of instants) expect(isoTime(t), String(t)).toBe(new Date(t).toISOString());
  });

  it('throws as the Date does for what is no instant', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
    expect(isoTime(1.5)).toBe(new Date(1.5).toISOString());
  });
});
