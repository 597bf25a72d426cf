/**
 * Limits and cache settings of the serving layer, with defaults. Entry points fill them from
 * configuration; tests pass what they need.
 */
export interface ServingOptions {
  /** Longest range of any query. */
  maxRangeMs: number;
  /** Most buckets in one series (7 days of minutes, 400+ days of hours). */
  maxBuckets: number;
  /** Most rows of a breakdown page, and the deepest offset. */
  maxLimit: number;
  maxOffset: number;
  /** Most steps of a funnel. */
  maxFunnelSteps: number;
  /** Most filter clauses of one query (its segment's included), and values of one clause. */
  maxFilters: number;
  maxFilterValues: number;
  /** Entries of the per-batch-version result cache. */
  cacheEntries: number;
  /** Estimated bytes the result cache may hold (serving memory stays bounded whatever is asked). */
  cacheBytes: number;
  /** How long a speed answer may be reused (0: never). Speed data changes every second. */
  speedCacheMs: number;
  /** "Active visitors" look-back of the realtime endpoint. */
  activeWindowMs: number;
  /** The key of /v1/jobs (operator data, not one site's); unset: those routes are off. */
  adminKey: string | undefined;
  /** Refresh period of the dashboard's live counter. */
  realtimeRefreshMs: number;
}

export const DEFAULT_SERVING_OPTIONS: ServingOptions = {
  maxRangeMs: 400 * 86_400_000,
  maxBuckets: 10_080,
  maxLimit: 1_000,
  maxOffset: 10_000,
  maxFunnelSteps: 8,
  maxFilters: 20,
  maxFilterValues: 50,
  cacheEntries: 5_000,
  cacheBytes: 64 * 2 ** 20,
  speedCacheMs: 0,
  activeWindowMs: 5 * 60_000,
  adminKey: undefined,
  realtimeRefreshMs: 5_000,
};

export function servingOptions(over: Partial<ServingOptions> = {}): ServingOptions {
  return { ...DEFAULT_SERVING_OPTIONS, ...over };
}
