import { describe, expect, it } from 'vitest';
import { daysBetween, lakeFileName, parseDay, parseLakeFileName } from './lake.layout.ts';
import { watermarkOf } from './views.store.ts';

describe('lake layout', () => {
  it('names a file by topic, partition and zero-padded offsets, and parses it back', () => {
    const name = lakeFileName({ topic: 'twinlane.events', partition: 3, first: 1000n, last: 1999n });
    expect(name).toBe('twinlane.events~p3~o0000000000000001000-0000000000000001999.parquet');
    expect(parseLakeFileName(name)).toEqual({ topic: 'twinlane.events', partition: 3, first: 1000n, last: 1999n });
    expect(parseLakeFileName('compacted~1.parquet')).toBeUndefined();
  });

  it('rejects malformed and impossible dates with a message naming the format', () => {
    expect(parseDay('2026-03-14')).toBe(Date.UTC(2026, 2, 14));
    for (const bad of ['2026-13-01', '2026-02-30', '14.03.2026', '']) expect(() => parseDay(bad)).toThrow(/expected YYYY-MM-DD/);
    expect(daysBetween('2026-02-27', '2026-03-01')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(() => daysBetween('2026-03-02', '2026-03-01')).toThrow(/before/);
  });

  it('W is the end of the latest covered day that is over', () => {
    const now = Date.UTC(2026, 2, 16, 12);
    expect(watermarkOf(['2026-03-14', '2026-03-16'], now)).toBe(Date.UTC(2026, 2, 15));
    expect(watermarkOf(['2026-03-16'], now)).toBeNull();
  });
});
