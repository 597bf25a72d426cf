/** Shapes shared by the speed layer's writer, reader and consumer. */
import type { RollupEvent } from './event.decoder.ts';

/** One decoded record of a Kafka batch, with the offset it came from. */
export interface OffsetEvent {
  offset: string;
  event: RollupEvent;
}

/** What one site's events of one minute add to Redis. Everything is a sum or a set union. */
/** A site's listed custom property keys (core/sites.ts `properties`): the ones the speed store keeps values of. */
export type PropertyKeys = (site: string) => readonly string[];

export interface MinuteRollup {
  /** Bucket start, epoch minutes (event time / 60 000). */
  minute: number;
  /** Counter-hash field → increment (aggregates and Druid-style dimension tuples). */
  counters: Map<string, number>;
  /** Distinct human visitor ids. */
  visitors: readonly string[];
  /** `<dimension>:<value>` → human visitor ids (repeats possible: PFADD ignores them), for single-dimension filtered uniques. */
  dimVisitors: Map<string, string[]>;
  /** Path → human page views. */
  pages: Map<string, number>;
  /** Referrer host → human page views. */
  referrers: Map<string, number>;
  /** Event id → `partition:offset` of the record that counted it (dedupe of client retries; absent: off). */
  ids?: Map<string, string>;
  /** `<p|e><key>` → the custom property's value → human page views (p) or custom events (e): the site's listed keys only. */
  props?: Map<string, Map<string, number>>;
}

/** One site's share of one consumed partition batch. */
export interface SiteRollup {
  site: string;
  minutes: Map<number, MinuteRollup>;
  /**
   * Human visitor → its events as `event time × 2 + 1 if a page view`, ascending: the apply script cuts them into the server's
   * visits (contract 9) against the visitor's state in Redis and adds each visit to the session
   * sketch of its events' minutes and the visit's first/last event and page views of the minute to
   * the minute's visit hash (bounce rate, visit duration). The client's session id plays no part.
   */
  visits: Map<string, number[]>;
  /** Events folded in (humans and bots). */
  events: number;
  /** Highest offset among them: recorded atomically with the data. */
  maxOffset: string;
}

/** Position of a batch: the offset record field is `<topic>:<partition>`. */
export interface BatchPosition {
  topic: string;
  partition: number;
}

/**
 * Result of applying one site's rollup: applied, or the offset record of the partition as Redis
 * has it; with `duplicates`, a client's retry of an event another record counted kept all of it
 * out (RollupWriter's MultiApplyResult).
 */
export type ApplyResult = { applied: true } | { applied: false; currentOffset: string | null; duplicates?: true };

export interface RealtimeSnapshot {
  site: string;
  /** Now, as the query saw it (epoch ms). */
  at: number;
  /** Unique human visitors in the last 5 minutes (this minute included), HyperLogLog. */
  visitorsLast5m: number;
  /** Human page views per minute over the last 30 minutes, oldest first. */
  pageviewsPerMinute: { start: number; pageviews: number }[];
}
