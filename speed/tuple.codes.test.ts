import { beforeEach, describe, expect, it, vi } from 'vitest';
import { tupleField } from './redis.keys.ts';

// The codes are interned per process: each case takes a module of its own, whatever other test
// files of the same worker (vitest.config.ts: unit files share workers) interned before.
let tupleCode: typeof import('./tuple.codes.ts').tupleCode;
let tupleFieldOf: typeof import('./tuple.codes.ts').tupleFieldOf;

describe('tuple codes', () => {
  beforeEach(async () => {
    vi.resetModules();
    ({ tupleCode, tupleFieldOf } = await import('./tuple.codes.ts'));
  });

  it('gives each distinct tuple its own code, which turns back into the tuple field', () => {
    const tuples: [string, string, string, string, string, string, string][] = [
      ['p', 'pageview', 'DE', 'mobile', 'Safari', 'iOS', '(none)'],
      ['p', 'pageview', 'DE', 'mobile', 'Safari', 'iOS', 'newsletter'],
      ['r', 'purchase', 'US', 'desktop', 'Chrome', 'Windows', '(none)'],
      ['c', 'signup', '(none)', 'tablet', 'Firefox', 'Linux', 'x\x1fy'],
    ];
    const codes = tuples.map((t) => tupleCode(...t));
    expect(new Set(codes).size).toBe(tuples.length);
    codes.forEach((c, i) => {
      const [kind, name, ...dims] = tuples[i]!;
      expect(tupleFieldOf(c)).toBe(tupleField(kind, name, dims));
      expect(tupleCode(...tuples[i]!)).toBe(c);
    });
  });

  it('returns -1 once a part has no ids left, so callers fall back to field strings', () => {
    let last = 0;
    for (let i = 0; i < 3_000 && last >= 0; i++) last = tupleCode('c', `event-${i}`, 'DE', 'mobile', 'Safari', 'iOS', '(none)');
    expect(last).toBe(-1);
    // Values that already have ids keep working.
    expect(tupleFieldOf(tupleCode('c', 'event-0', 'DE', 'mobile', 'Safari', 'iOS', '(none)'))).toBe(tupleField('c', 'event-0', ['DE', 'mobile', 'Safari', 'iOS', '(none)']));
  });
});
