import { describe, expect, it } from 'vitest';
import { unionSources } from './speed.reader.ts';

const range = (a: number, z: number) => Array.from({ length: z - a }, (_, i) => a + i);

describe('unionSources', () => {
  it('reads whole hours from hour keys and the edges from minute keys', () => {
    // From minute 50 of hour 0 to minute 10 of hour 3: 10 minutes, hours 1 and 2, 10 minutes.
    const keys = unionSources(range(50, 190), (m) => `m${m}`, (h) => `h${h}`);
    expect(keys).toEqual([...range(50, 60).map((m) => `m${m}`), 'h1', 'h2', ...range(180, 190).map((m) => `m${m}`)]);
  });

  it('takes 48 keys for 48 whole hours, and minute keys for less than an hour', () => {
    expect(unionSources(range(600, 600 + 48 * 60), String, (h) => `h${h}`)).toHaveLength(48);
    expect(unionSources(range(60, 119), (m) => `m${m}`, (h) => `h${h}`)).toEqual(range(60, 119).map((m) => `m${m}`));
    expect(unionSources([], String, String)).toEqual([]);
  });

  it('reads minutes where the run has a gap', () => {
    const minutes = [...range(0, 30), ...range(31, 61)];
    expect(unionSources(minutes, (m) => `m${m}`, (h) => `h${h}`)).toEqual(minutes.map((m) => `m${m}`));
  });
});
