/** The sample kept of input refused before authentication: per site and minute, cut, within a budget. */
import { describe, expect, it } from 'vitest';
import { KeylessSampler } from './keyless.sampler.ts';

describe('KeylessSampler', () => {
  it('keeps at most perSite requests per claimed site and minute, each cut to sampleBytes', () => {
    let now = 60_000 * 1_000;
    const s = new KeylessSampler({ budgetBytes: 1_000_000, sampleBytes: 100, perSite: 3 }, () => now);
    const verdicts = Array.from({ length: 5 }, () => s.admit('shop', 1_000_000));
    expect(verdicts.map((v) => [v.keep, v.keepBytes, v.seen])).toEqual([[true, 100, 1], [true, 100, 2], [true, 100, 3], [false, 0, 4], [false, 0, 5]]);
    expect(s.admit('blog', 50)).toEqual({ keep: true, keepBytes: 50, seen: 1 });
    now += 60_000;
    expect(s.admit('shop', 10).keep).toBe(true);
  });

  it('keeps all sites together within the budget, however many site ids a client makes up', () => {
    const s = new KeylessSampler({ budgetBytes: 4 * 1024, sampleBytes: 1024, perSite: 10 }, () => 0);
    let kept = 0;
    for (let i = 0; i < 5_000; i++) kept += s.admit(`site-${i}`, 1024 * 1024).keepBytes;
    expect(kept).toBe(4 * 1024);
  });
});
