/**
 * The period an answer is compared with: the previous period (as many buckets back), the same
 * local dates a year earlier, or a range the client names. Every mode answers the same query over
 * the other range, merged at W like any range.
 */
import { Calendar } from '../core/calendar.ts';
import { badRequest } from './api.errors.ts';

export const COMPARISON_MODES = ['previous_period', 'year_over_year', 'custom'] as const;
export type ComparisonMode = (typeof COMPARISON_MODES)[number];

export type Comparison = { mode: 'previous_period' } | { mode: 'year_over_year' } | { mode: 'custom'; from: number; to: number };

export function parseComparisonMode(text: string, what = 'comparison mode'): ComparisonMode {
  if (!(COMPARISON_MODES as readonly string[]).includes(text)) throw badRequest(`${what} "${text.slice(0, 40)}" is unknown; expected one of ${COMPARISON_MODES.join(', ')}`);
  return text as ComparisonMode;
}

/**
 * The same local wall time a year earlier (29 February becomes the 28th); a wall time the clocks
 * skipped that year is taken just after the gap.
 */
export function yearBack(t: number, zone: string): number {
  const cal = Calendar.of(zone);
  const wall = new Date(cal.wall(t));
  const y = wall.getUTCFullYear() - 1;
  const m = wall.getUTCMonth();
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const back = Date.UTC(y, m, Math.min(wall.getUTCDate(), lastDay), wall.getUTCHours(), wall.getUTCMinutes(), wall.getUTCSeconds(), wall.getUTCMilliseconds());
  const at = cal.instantsOf(back);
  return at[0] ?? cal.instantsOf(back + 3_600_000)[0] ?? back - cal.offsetAt(back);
}
