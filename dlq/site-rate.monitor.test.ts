import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { SiteRateMonitor } from './site-rate.monitor.ts';

function monitor() {
  const logger = silentLogger();
  const warn = vi.spyOn(logger, 'warn');
  const metrics = new Metrics();
  return { warn, metrics, m: new SiteRateMonitor({ alertRate: 0.05, windowMs: 60_000, minRecords: 20, stage: 'collect', metrics, logger }) };
}

describe('SiteRateMonitor', () => {
  it('warns once per window when a site crosses the rate, with site and rate in the line', async () => {
    const { m, warn, metrics } = monitor();
    const t = 1_000_000 * 60_000;
    expect(m.observe('shop', 100, 5, t)).toBe(false); // exactly 5% is not above
    expect(m.observe('shop', 0, 1, t + 10)).toBe(true); // 6/100
    expect(m.observe('shop', 10, 10, t + 20)).toBe(false); // already warned in this window
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatchObject({ event: 'site_dead_letter_rate', site: 'shop', threshold: 0.05 });
    expect(await metrics.text()).toContain('twinlane_site_dead_letter_alerts_total{stage="collect",site="shop"} 1');
    expect(m.observe('shop', 100, 50, t + 60_000)).toBe(true); // next window warns again
  });

  it('keeps sites apart and ignores thin windows', () => {
    const { m } = monitor();
    expect(m.observeBatch(new Map([['a', 10], ['b', 100]]), new Map([['a', 10], ['b', 1]]), 0)).toEqual([]);
    expect(m.observeBatch(new Map([['a', 10]]), new Map([['a', 10]]), 1)).toEqual(['a']);
  });
});
