import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendHistory, compareLatest, machineScaled, median, parseFigure, readHistory, summarize, type HistoryEntry } from './figures.ts';
import { machineWork } from './machine.ts';

const entry = (commit: string, figures: Record<string, number>): HistoryEntry => ({
  at: `2026-12-0${commit.length}T00:00:00Z`,
  commit,
  groups: ['speed'],
  rounds: 3,
  figures: Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, { median: v, min: v, max: v, rounds: 3 }])),
});

describe('benchmark figures', () => {
  it('reads figure lines and nothing else', () => {
    expect(parseFigure('bench: speed_events_per_s = 107700')).toEqual({ name: 'speed_events_per_s', value: 107_700 });
    expect(parseFigure('bench: serving_uniques_rss_mb = 30.4')).toEqual({ name: 'serving_uniques_rss_mb', value: 30.4 });
    expect(parseFigure('  round 1/3: speed_events_per_s = 1')).toBeUndefined();
    expect(parseFigure('{"level":30}')).toBeUndefined();
  });

  it('takes the median, min and max of each figure over its rounds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const s = summarize([new Map([['a', 10], ['b', 1]]), new Map([['a', 30]]), new Map([['a', 20], ['b', 3]])]);
    expect(s.get('a')).toEqual({ median: 20, min: 10, max: 30, rounds: 3 });
    expect(s.get('b')).toEqual({ median: 2, min: 1, max: 3, rounds: 2 });
  });

  it('compares the latest run with the previous one that has each figure, a worse change beyond 15% flagged either way round', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'twinlane-bench-')), 'history.jsonl');
    appendHistory(file, entry('a', { speed_events_per_s: 100_000, batch_day_10m_s: 10, serving_p99_ms: 20, batch_page_faults: 100, speed_one_instance_page_faults_per_event: 0.3 }));
    appendHistory(file, entry('bb', { serving_p99_ms: 21 }));
    appendHistory(file, entry('ccc', { speed_events_per_s: 80_000, batch_day_10m_s: 12, serving_p99_ms: 20, new_figure: 5, batch_page_faults: 120, speed_one_instance_page_faults_per_event: 0.36 }));
    const rows = new Map(compareLatest(readHistory(file)).map((r) => [r.name, r]));
    expect(rows.get('speed_events_per_s')).toMatchObject({ ratio: 0.8, drop: true, beforeCommit: 'a' });
    expect(rows.get('batch_day_10m_s')).toMatchObject({ ratio: 1.2, drop: true });
    expect(rows.get('batch_page_faults')).toMatchObject({ ratio: 1.2, drop: true });
    expect(rows.get('speed_one_instance_page_faults_per_event')).toMatchObject({ drop: true });
    expect(rows.get('serving_p99_ms')).toMatchObject({ before: 21, drop: false, beforeCommit: 'bb' });
    expect(rows.has('new_figure')).toBe(false);
    expect(compareLatest([entry('x', { a_per_s: 1 })])).toEqual([]);
  });

  it('judges times, rates and CPU per event net of the machine when both runs measured it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'twinlane-bench-')), 'history.jsonl');
    const fast = { machine_ms: 1000, speed_events_per_s: 100_000, batch_day_10m_s: 10, batch_peak_rss_mb: 1000, speed_consumer_cpu_us_per_event: 10, collector_p99_ms: 100, serving_nocache_paced_rps: 1000 };
    appendHistory(file, entry('a', fast));
    // 1.5× slower machine: every machine-bound figure 1.5× worse (no change of code), memory
    // and the paced rate unchanged but for the rate 20% lower.
    appendHistory(file, entry('bb', { machine_ms: 1500, speed_events_per_s: 66_667, batch_day_10m_s: 15, batch_peak_rss_mb: 1000, speed_consumer_cpu_us_per_event: 15, collector_p99_ms: 150, serving_nocache_paced_rps: 800 }));
    const rows = new Map(compareLatest(readHistory(file)).map((r) => [r.name, r]));
    for (const name of ['speed_events_per_s', 'batch_day_10m_s', 'speed_consumer_cpu_us_per_event', 'collector_p99_ms']) {
      const r = rows.get(name);
      expect(r, name).toBeDefined();
      expect(r!.net, name).toBeCloseTo(1, 3);
      expect(r!.drop, name).toBe(false);
    }
    expect(rows.get('machine_ms')).toMatchObject({ ratio: 1.5, drop: false });
    expect(rows.get('machine_ms')!.net).toBeUndefined();
    expect(rows.get('batch_peak_rss_mb')!.net).toBeUndefined();
    expect(rows.get('serving_nocache_paced_rps')).toMatchObject({ ratio: 0.8, drop: true });
    // The same slowdown with a real regression on top is still a drop.
    appendHistory(file, entry('ccc', { machine_ms: 1500, speed_events_per_s: 50_000 }));
    const again = new Map(compareLatest(readHistory(file)).map((r) => [r.name, r]));
    expect(again.get('speed_events_per_s')).toMatchObject({ drop: true });
    expect(again.get('speed_events_per_s')!.net).toBeCloseTo(0.75, 3);
    // Without the machine on both sides, the raw ratio is judged.
    const bare = compareLatest([entry('a', { batch_day_10m_s: 10 }), entry('bb', { machine_ms: 1500, batch_day_10m_s: 15 })]);
    expect(bare[0]).toMatchObject({ ratio: 1.5, drop: true });
    expect(bare[0]!.net).toBeUndefined();
  });

  it('scales only the figures that follow the machine', () => {
    for (const n of ['speed_events_per_s', 'batch_day_10m_s', 'batch_user_cpu_s', 'serving_rps', 'serving_series_p99_ms', 'collector_cpu_us_per_event']) expect(machineScaled(n), n).toBe(true);
    for (const n of ['machine_ms', 'batch_peak_rss_mb', 'serving_uniques_error_pct', 'speed_redis_bytes_per_event', 'batch_page_faults', 'collector_non2xx', 'serving_nocache_paced_rps', 'speed_partition_batches_per_round']) expect(machineScaled(n), n).toBe(false);
  });

  it("does the machine's fixed work the same way every time", () => {
    expect(machineWork()).toBe(machineWork());
  });
});
