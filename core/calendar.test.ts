import { describe, expect, it } from 'vitest';
import { Calendar, isTimeZone, LocalTimeError } from './calendar.ts';

const H = 3_600_000;
const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

describe('Calendar', () => {
  it('knows IANA names and refuses others', () => {
    expect(isTimeZone('America/New_York')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(() => Calendar.of('Mars/Olympus_Mons')).toThrow(/unknown time zone "Mars\/Olympus_Mons"/);
  });

  it('New York: the spring-forward day has 23 hours, the fall-back day 25, each hour its own bucket', () => {
    const ny = Calendar.of('America/New_York');
    const spring = ny.startOfDate('2026-03-08');
    expect(iso(spring)).toBe('2026-03-08T05:00:00.000Z');
    expect(ny.next(spring, 'day') - spring).toBe(23 * H);
    expect(ny.buckets(spring, ny.next(spring, 'day'), 'hour')).toHaveLength(23);
    const fall = ny.startOfDate('2026-11-01');
    expect(ny.next(fall, 'day') - fall).toBe(25 * H);
    const hours = ny.buckets(fall, ny.next(fall, 'day'), 'hour');
    expect(hours).toHaveLength(25);
    // The repeated 01:00: once in EDT, once in EST.
    expect(hours.slice(1, 3).map((t) => ny.localIso(t))).toEqual(['2026-11-01T01:00:00-04:00', '2026-11-01T01:00:00-05:00']);
    expect(ny.instantOfLocal('2026-11-01T01:30')).toBe(at('2026-11-01T05:30:00Z'));
    expect(() => ny.instantOfLocal('2026-03-08T02:30')).toThrow(LocalTimeError);
    expect(() => ny.instantOfLocal('2026-03-08T02:30')).toThrow(/does not exist in America\/New_York/);
  });

  it('Kolkata and Kathmandu cut hours at :30 and :15 UTC', () => {
    const kolkata = Calendar.of('Asia/Kolkata');
    expect(iso(kolkata.floor(at('2026-01-01T10:45:00Z'), 'hour'))).toBe('2026-01-01T10:30:00.000Z');
    expect(iso(kolkata.floor(at('2026-01-01T10:15:00Z'), 'hour'))).toBe('2026-01-01T09:30:00.000Z');
    expect(iso(kolkata.startOfDate('2026-01-01'))).toBe('2025-12-31T18:30:00.000Z');
    const kathmandu = Calendar.of('Asia/Kathmandu');
    expect(iso(kathmandu.floor(at('2026-01-01T10:50:00Z'), 'hour'))).toBe('2026-01-01T10:15:00.000Z');
    expect(iso(kathmandu.next(at('2026-01-01T10:15:00Z'), 'hour'))).toBe('2026-01-01T11:15:00.000Z');
  });

  it('Lord Howe: the 30-minute shifts make days of 24.5 and 23.5 hours', () => {
    const lh = Calendar.of('Australia/Lord_Howe');
    const april = lh.startOfDate('2026-04-05');
    expect(iso(april)).toBe('2026-04-04T13:00:00.000Z');
    expect(lh.next(april, 'day') - april).toBe(24.5 * H);
    const october = lh.startOfDate('2026-10-04');
    expect(lh.next(october, 'day') - october).toBe(23.5 * H);
    // Every hour bucket starts on a whole local hour and the buckets tile the day.
    for (const day of [april, october]) {
      const hours = lh.buckets(day, lh.next(day, 'day'), 'hour');
      for (const h of hours) expect(lh.localIso(h).slice(14, 19)).toBe('00:00');
      expect(hours[0]).toBe(day);
    }
  });

  it('weeks start on Monday and months on the 1st, in the zone', () => {
    const utc = Calendar.of('UTC');
    expect(iso(utc.floor(at('2026-12-03T12:00:00Z'), 'week'))).toBe('2026-11-30T00:00:00.000Z');
    expect(iso(utc.floor(at('2026-12-03T12:00:00Z'), 'month'))).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(utc.next(at('2026-12-01T00:00:00Z'), 'month'))).toBe('2027-01-01T00:00:00.000Z');
    const tokyo = Calendar.of('Asia/Tokyo');
    // Sunday 20:00 UTC is already Monday in Tokyo.
    expect(iso(tokyo.floor(at('2026-11-29T20:00:00Z'), 'week'))).toBe('2026-11-29T15:00:00.000Z');
    const ny = Calendar.of('America/New_York');
    expect(ny.next(ny.startOfDate('2026-03-01'), 'month')).toBe(ny.startOfDate('2026-04-01'));
    expect(ny.localDate(at('2026-03-01T03:00:00Z'))).toBe('2026-02-28');
  });

  it('over a year in each zone, buckets tile time: each starts where the last ended, floor(start) = start', () => {
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Europe/Berlin']) {
      const cal = Calendar.of(zone);
      const from = at('2026-01-01T00:00:00Z');
      const to = at('2027-01-01T00:00:00Z');
      for (const grain of ['hour', 'day', 'week', 'month'] as const) {
        const starts = cal.buckets(from, to, grain);
        expect(starts.length, `${zone} ${grain}`).toBeGreaterThan(0);
        for (let i = 0; i < starts.length; i++) {
          const b = starts[i]!;
          expect(cal.floor(b, grain), `${zone} ${grain} ${iso(b)}`).toBe(b);
          expect(cal.floor(cal.next(b, grain) - 1, grain), `${zone} ${grain} ${iso(b)}`).toBe(b);
          if (i > 0) expect(b).toBe(cal.next(starts[i - 1]!, grain));
        }
        if (grain === 'day') {
          const lengths = new Set(starts.map((b) => (cal.next(b, 'day') - b) / H));
          for (const l of lengths) expect([23, 23.5, 24, 24.5, 25], `${zone} day of ${l} h`).toContain(l);
          expect(starts.length, zone).toBeGreaterThanOrEqual(365);
        }
      }
    }
  });

  it('refuses dates that do not exist', () => {
    expect(() => Calendar.of('UTC').startOfDate('2026-02-30')).toThrow(/not a date/);
    expect(() => Calendar.of('UTC').instantOfLocal('2026-02-10T25:00')).toThrow(/not a valid local time/);
  });
});
