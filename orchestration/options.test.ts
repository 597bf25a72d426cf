import { describe, expect, it } from 'vitest';
import { parseConfig } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { schedulerOptions } from './options.ts';

describe('schedulerOptions', () => {
  it('takes schedules, lock and retry policy from the configuration', () => {
    const o = schedulerOptions(parseConfig({ SCHEDULER_BATCH_CRON: '15 1 * * *', SCHEDULER_TZ: 'Europe/Berlin', SCHEDULER_RETRY_DELAY: '10s', SCHEDULER_LOCK_TTL: '2m' }));
    expect(o.crons).toEqual({ batch: '15 1 * * *', compaction: '0 * * * *', retention: '30 3 * * *' });
    expect(o.timezone).toBe('Europe/Berlin');
    expect(o.lockTtlMs).toBe(120_000);
    expect(o.retry).toEqual({ attempts: 3, initialDelayMs: 10_000, maxDelayMs: 100_000 });
  });

  it('names every wrong schedule variable at once', () => {
    const bad = parseConfig({ SCHEDULER_COMPACTION_CRON: '61 * * * *', SCHEDULER_TZ: 'Nowhere/City' });
    expect(() => schedulerOptions(bad)).toThrow(ConfigError);
    try {
      schedulerOptions(bad);
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.split('=')[0])).toEqual(['SCHEDULER_COMPACTION_CRON', 'SCHEDULER_TZ']);
    }
  });
});
