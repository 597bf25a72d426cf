/**
 * Tiered retention of the batch views (issue 18): raw detail is kept short, aggregates long. Each
 * table of a batch day folder belongs to one tier, and a tier's retention says how long a UTC day
 * keeps it: the day's deduplicated events follow the lake (RETENTION_LAKE), minute and hour
 * rollups their own tiers, and the day rollups, per-day breakdowns, visitor sketches and month
 * views the day tier, after which the day leaves the views. Both batch-view stores (DuckDB files,
 * ClickHouse) and the batch job's retention step decide "past its tier" with this one rule, so a
 * store never serves what the step would delete, and an answer a tier no longer holds says why.
 */
export const RETENTION_TIERS = ['events', 'minute', 'hour', 'day'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];

/** How long (ms) each tier keeps a UTC day. Versions record the tiers they were trimmed to. */
export type RetentionTiers = Record<RetentionTier, number>;

/** The configuration variable of each tier, named in every answer a tier left without data. */
export const TIER_VARIABLES: Readonly<Record<RetentionTier, string>> = {
  events: 'RETENTION_LAKE',
  minute: 'RETENTION_VIEWS_MINUTE',
  hour: 'RETENTION_VIEWS_HOUR',
  day: 'RETENTION_VIEWS_DAY',
};

const TIER_NAMES: Readonly<Record<RetentionTier, string>> = {
  events: 'raw events',
  minute: 'minute views',
  hour: 'hour views',
  day: 'day and month views',
};

/** The tier of each table of a batch day folder (and of the month views). */
export const TABLE_TIER = { events: 'events', minute: 'minute', hour: 'hour', day: 'day', dims: 'day', sketches: 'day', month: 'day' } as const satisfies Record<string, RetentionTier>;
export type TieredTable = keyof typeof TABLE_TIER;

const DAY_MS = 86_400_000;

function spoken(ms: number): string {
  if (ms % DAY_MS === 0) return ms === DAY_MS ? '1 day' : `${ms / DAY_MS} days`;
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? '1 hour' : `${ms / 3_600_000} hours`;
  return `${Math.round(ms / 1000)} s`;
}

/** Why a tier no longer holds a day: "minute views are kept 7 days (RETENTION_VIEWS_MINUTE)". */
export function tierReason(tier: RetentionTier, tiers: RetentionTiers | undefined): string {
  if (!tiers) return `${TIER_NAMES[tier]} of this day are no longer kept (${TIER_VARIABLES[tier]})`;
  return `${TIER_NAMES[tier]} are kept ${spoken(tiers[tier])} (${TIER_VARIABLES[tier]})`;
}

/** The first UTC day (YYYY-MM-DD) a tier of `ms` still keeps at `now`: the lake's rule (a day is kept at least `ms`). */
export function firstKeptDay(now: number, ms: number): string {
  return new Date(now - ms).toISOString().slice(0, 10);
}

/** Whether UTC day `day` is past a tier of `ms` at `now`. */
export function pastTier(day: string, now: number, ms: number): boolean {
  return day < firstKeptDay(now, ms);
}

/** What a version says of one day: the tables the retention step deleted from its folder. */
export interface TrimmedDay {
  trimmed?: readonly string[];
}

/**
 * Whether a version still holds `table` of `day` at `now`: not deleted by the retention step, and
 * not past its tier (a store never serves what the next retention run would delete, and a version
 * published before the trim, still kept for rollback, reads its folder's deleted files as gone).
 */
export function tableHeld(day: string, entry: TrimmedDay | undefined, table: TieredTable, now: number, tiers: RetentionTiers | undefined): boolean {
  if (!entry) return false;
  if (entry.trimmed?.includes(table)) return false;
  return !tiers || !pastTier(day, now, tiers[TABLE_TIER[table]]);
}

/** A version as the tier rule reads it (batch/types.ts VersionManifest, ClickHouse's copy of it). */
export interface TieredVersion {
  days: Readonly<Record<string, TrimmedDay>>;
  retention?: RetentionTiers;
}

/** The table that holds a grain's buckets for its tier: a week or a local month is cut from the events. */
const GRAIN_TABLE = { minute: 'minute', hour: 'hour', day: 'day', week: 'events', month: 'events' } as const satisfies Record<string, TieredTable>;

/**
 * What one pinned version still holds at `now`, per day and table, for both batch-view readers:
 * `exists` (the DuckDB reader's file check) also reads a table deleted after the version was
 * published as gone, whatever the version recorded.
 */
export class Holdings {
  private readonly memo = new Map<string, boolean>();
  private readonly sorted: string[];

  constructor(
    private readonly version: TieredVersion,
    private readonly now: number,
    private readonly exists?: (day: string, table: TieredTable) => boolean,
  ) {
    this.sorted = Object.keys(version.days).sort();
  }

  held(day: string, table: TieredTable): boolean {
    const key = `${day}/${table}`;
    let v = this.memo.get(key);
    if (v === undefined) {
      v = tableHeld(day, this.version.days[day], table, this.now, this.version.retention) && (this.exists?.(day, table) ?? true);
      this.memo.set(key, v);
    }
    return v;
  }

  reason(table: TieredTable): string {
    return tierReason(TABLE_TIER[table], this.version.retention);
  }

  /** The version's days overlapping [from, to). */
  daysIn(from: number, to: number): string[] {
    return this.sorted.filter((d) => {
      const t = Date.parse(`${d}T00:00:00Z`);
      return t < to && t + DAY_MS > from;
    });
  }

  /**
   * The first table of `tables` some day of [from, to) no longer holds, or null: a day of the
   * version that lost it, or any day past its tier (one without events answers the same as one
   * whose events went: missing, not zero).
   */
  lacking(from: number, to: number, tables: readonly TieredTable[]): TieredTable | null {
    const days = this.daysIn(from, to);
    const tiers = this.version.retention;
    for (const t of tables) {
      if (tiers && from < Date.parse(`${firstKeptDay(this.now, tiers[TABLE_TIER[t]])}T00:00:00Z`)) return t;
      if (days.some((d) => !this.held(d, t))) return t;
    }
    return null;
  }

  /**
   * Where `table` is held from on: the end of the last day that no longer holds it (days are
   * trimmed oldest first), with the reason; null when every day holds it. For `day`, the first
   * day the day tier keeps (days before it left the version).
   */
  heldFrom(table: TieredTable): { from: number; reason: string } | null {
    let from: number | null = null;
    for (const d of this.sorted) if (!this.held(d, table)) from = Date.parse(`${d}T00:00:00Z`) + DAY_MS;
    const tiers = this.version.retention;
    if (tiers) {
      const kept = Date.parse(`${firstKeptDay(this.now, tiers[TABLE_TIER[table]])}T00:00:00Z`);
      if (from === null || kept > from) from = kept;
    }
    return from === null ? null : { from, reason: this.reason(table) };
  }

  /**
   * Why a series bucket [start, end) of `grain` is not answered, or null: its grain's tier is over
   * for one of its days (a minute series 30 days back), or the table its answer is cut from
   * (`path`: the grain's rollup, or the raw events for filters, revenue, event names and local
   * time zones) no longer holds one of them.
   */
  seriesGap(grain: keyof typeof GRAIN_TABLE, path: 'rollup' | 'events', start: number, end: number): string | null {
    const own = GRAIN_TABLE[grain];
    const lack = this.lacking(start, end, path === 'rollup' || own === 'events' ? [own] : [own, 'events']);
    if (lack === null) return null;
    if (lack === own || own === 'events') return this.reason(lack);
    return `${this.reason('events')}: a ${grain} series with filters, revenue, an event name or in a time zone other than UTC is cut from them`;
  }
}
