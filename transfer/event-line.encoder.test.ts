import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { LAKE_COLUMNS, SpoolLineEncoder } from '../batch/index.ts';
import { EVENT_SCHEMA, type TwinlaneEvent } from '../schemas/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EventLineEncoder } from './event-line.encoder.ts';

const type = avro.Type.forSchema(EVENT_SCHEMA as avro.Schema);
const COLUMNS = LAKE_COLUMNS.map(([n]) => n);
const DAY = Date.UTC(2026, 2, 14);

/** The archiver's own writer of event objects: the truth these lines must equal byte for byte. */
function truth(events: TwinlaneEvent[]): Buffer {
  const enc = new SpoolLineEncoder(type, 0, COLUMNS);
  for (const e of events) enc.appendEvent(e);
  return Buffer.from(enc.bytes());
}

function encoded(events: TwinlaneEvent[], initialBytes?: number): EventLineEncoder {
  const enc = new EventLineEncoder(initialBytes);
  for (const e of events) enc.append(e);
  return enc;
}

const base = [...generateTraffic({ seed: 3, sites: ['a'], from: DAY, to: DAY + 3_600_000, events: 50 })][0]!;

describe('EventLineEncoder', () => {
  it('writes the bytes of SpoolLineEncoder.appendEvent for generated traffic', () => {
    const events = [...generateTraffic({ seed: 11, sites: ['a', 'b'], from: DAY, to: DAY + 86_400_000, events: 3_000 })];
    const enc = encoded(events, 64); // a tiny buffer: growing is exercised too
    expect(enc.bytes().equals(truth(events))).toBe(true);
    const lines = truth(events).toString('utf8').split(/(?<=\n)/).filter((l) => l !== '');
    expect(enc.longestLine).toBe(Math.max(...lines.map((l) => Buffer.byteLength(l))));
  });

  it('quotes, escapes and encodes odd text, nulls, extreme numbers and maps as appendEvent does', () => {
    const odd: TwinlaneEvent[] = [
      { ...base, url: 'https://x.example/a"b\\c\n\t\u0001\u001f\u007f', title: '', referrer: null, name: 'é 中文 😀', revenue_micros: 9007199254740990, screen_width: -2147483648 },
      { ...base, properties: { 'k"1': 'v\n1', '': '', é: '😀', '2': 'b', '1': 'a' }, revenue_micros: -4503599627370496, screen_width: 2147483647, event_time: 0, is_bot: true },
      { ...base, properties: JSON.parse('{"__proto__":"x","plan":"pro"}') as Record<string, string>, type: 'purchase', utm_term: '\u2028\u2029' },
      { ...base, title: 'a,b', referrer: 'https://r.example/\r', utm_source: '"', utm_medium: ',', country: 'x\ny', revenue_micros: 0, screen_width: 0, is_bot: false, time_adjusted: true },
      { ...base, title: 'lone \ud800 surrogate', os: 'ü', browser: '\u0080', hostname: '\u007f', revenue_micros: 1.5, screen_width: 1e21 },
    ];
    expect(encoded(odd).bytes().toString('utf8')).toEqual(truth(odd).toString('utf8'));
  });

  it('starts over after reset()', () => {
    const enc = encoded([{ ...base, title: 'x'.repeat(5_000) }]);
    enc.reset();
    enc.append(base);
    expect(enc.bytes().equals(truth([base]))).toBe(true);
    expect(enc.longestLine).toBe(truth([base]).length);
  });
});
