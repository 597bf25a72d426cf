import { describe, expect, it } from 'vitest';
import { rng } from '../traffic/index.ts';
import { parsePgTimestamp } from './pg-text.format.ts';
import { UtcTimestampParser } from './umami.postgres.source.ts';

/** A time as PostgreSQL prints a timestamptz with TimeZone UTC, with `digits` of the microseconds (trailing zeros dropped, as PostgreSQL does). */
function pgUtc(ms: number, micros: number): string {
  const iso = new Date(ms - (ms % 1000)).toISOString();
  const frac = String(micros).padStart(6, '0').replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}+00`;
}

describe('UtcTimestampParser', () => {
  it('reads what PostgreSQL prints in UTC as parsePgTimestamp does, row after row in time order and out of it', () => {
    const r = rng(7);
    const p = new UtcTimestampParser();
    let t = Date.UTC(2025, 11, 31, 22);
    const texts: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      t += Math.floor(r() * 5_000);
      const micros = (t % 1000) * 1000 + (r() < 0.3 ? 0 : Math.floor(r() * 1000));
      texts.push(pgUtc(t, r() < 0.1 ? 0 : micros));
    }
    for (let i = 0; i < 2_000; i++) texts.push(pgUtc(Math.floor(r() * 4e12), Math.floor(r() * 1e6)));
    for (const text of texts) expect(p.parse(text), text).toBe(parsePgTimestamp(text));
  });

  it('leaves other shapes to parsePgTimestamp: offsets, no offset, a T, odd digits, BC, five-digit years', () => {
    const p = new UtcTimestampParser();
    p.parse('2026-03-14 10:00:00+00');
    for (const text of ['2026-03-14 10:07:31.5+02', '2026-03-14 10:07:31', '2026-03-14T10:07:31.25+00', '2026-03-14 10:07:31.+00', '2026-03-14 10:0x:31+00', '2026-03-14 10:07:3a.1+00', '2026-03-14 10:07:31.1234567+00', '2026-03-14 10:07:31.12a+00', '0044-03-15 12:00:00+00 BC', '12026-03-14 10:07:31+00', '2026-03-14 10:61:31+00', 'garbage', '']) {
      expect(p.parse(text), text).toBe(parsePgTimestamp(text));
    }
  });
});
