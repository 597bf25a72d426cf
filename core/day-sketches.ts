/**
 * Whole batch days as one visitor sketch (batch/visitor.sketches.ts writes one per site and day
 * for the larger sites): which days of a range a sketch can stand for, and their merge. Both batch
 * readers (DuckDB files, ClickHouse) use these, so they pick the same days.
 */
import { isFiltered, type FilterCondition, type Filters } from './views.ts';
import { RedisHll } from './redis-hll.ts';

const DAY_MS = 86_400_000;

/**
 * A batch side's visitors for a union across W: whole days whose sketches the batch job wrote,
 * merged into one (Redis' dense HyperLogLog, 12 KB), and the ids of the rest, streamed in chunks.
 */
export interface IdSets {
  /** The merged sketch of the days it stands for, or null when there is none. */
  sketch?: () => Promise<Buffer | null>;
  /** The ids of what the sketch does not hold. */
  ids: () => AsyncIterable<readonly string[]>;
}

/** What a reader knows of a day of its version (batch/types.ts DayEntry). */
export interface SketchedDay {
  until?: number;
  /** The day holds sketches of the sites with at least this many visitors; absent: none. */
  sketchMinVisitors?: number;
}

/**
 * Days of `days` a sketch may stand for within [from, to): the day holds sketches and lies wholly in
 * the range (a day computed up to `until` ends there). Filtered questions never use them: a
 * sketch holds every visitor of its site and day.
 */
export function wholeSketchedDays(days: Record<string, SketchedDay>, from: number, to: number, filters?: Filters, conditions?: readonly FilterCondition[]): string[] {
  if (isFiltered(filters, conditions)) return [];
  return Object.keys(days)
    .sort()
    .filter((day) => {
      const entry = days[day]!;
      const start = Date.parse(`${day}T00:00:00Z`);
      return entry.sketchMinVisitors !== undefined && start >= from && Math.min(start + DAY_MS, entry.until ?? Infinity) <= to;
    });
}

/**
 * IdSets over sketched days: `read` merges the sketches of `days` once, when either half is first
 * asked for; `stream` streams the ids of the rest, leaving out the days `skip()` names (those the
 * sketches stood for). Both batch readers answer `visitorSets` with it.
 */
export function sketchedIdSets(days: readonly string[], read: (days: readonly string[]) => Promise<DaySketchMerger>, stream: (skip: () => Promise<ReadonlySet<string>>) => AsyncIterable<readonly string[]>): IdSets {
  let merged: Promise<DaySketchMerger> | undefined;
  const load = () => (merged ??= read(days));
  return { sketch: async () => (await load()).result(), ids: () => stream(async () => (await load()).days) };
}

/** Merges day sketches (hex of Redis' dense format) as they stream in; `days` are the ones seen. */
export class DaySketchMerger {
  private readonly hll = new RedisHll();
  readonly days = new Set<string>();

  add(day: string, hex: string): void {
    this.hll.mergeBuffer(Buffer.from(hex, 'hex'));
    this.days.add(day);
  }

  /** The merged sketch in Redis' dense format, or null when no day had one. */
  result(): Buffer | null {
    return this.days.size === 0 ? null : this.hll.toBuffer();
  }
}
