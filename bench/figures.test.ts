import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendHistory, compareLatest, median, parseFigure, readHistory, summarize, type HistoryEntry } from './figures.ts';

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
});
