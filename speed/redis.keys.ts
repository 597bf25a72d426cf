/**
 * Key layout of the speed store (contract 6). Every key of a site carries the `{site}` hash
 * tag, so one site's keys share a Redis Cluster slot and one Lua script may touch them all.
 *
 *   P:{s}:c:<min>            hash   counters: aggregates (revenue per currency) + dimension tuples
 *                                   (purchase and revenue tuples end in the currency)
 *   P:{s}:u:<min>            HLL    human visitors
 *   P:{s}:u:<min>:<dim>:<v>  HLL    human visitors with one dimension value
 *   P:{s}:dk:<min>           set    the `<dim>:<v>` suffixes that exist for that minute
 *   P:{s}:s:<min>            HLL    human sessions: the server's visits (`visitor@start-ms`) with an event in the minute
 *   P:{s}:v:<min>            hash   visit id → `first:last:pageviews` of its human events in the minute (bounce, duration)
 *   P:{s}:vs                 hash   visitor → `start:last` (epoch ms) of its current visit, the apply script's state
 *                                   for contract 9's idle rule; TTL as every key
 *   P:{s}:pg:<min>           zset   path → human page views
 *   P:{s}:rf:<min>           zset   referrer host (or `(direct)`) → human page views
 *   P:{s}:pgh:<hour>         zset   the same per epoch hour (minute / 60), so a breakdown over many
 *   P:{s}:rfh:<hour>         zset   hours unions hours, not thousands of minutes
 *   P:{s}:pr:<k>:<min>:<key>  zset  a listed custom property's value → human page views (k = p) or
 *   P:{s}:prh:<k>:<hour>:<key> zset custom events (k = e), per minute and per epoch hour (capped like pages)
 *   P:{s}:prk                hash   listed property key → the first epoch minute its values were kept from
 *   P:{s}:ch:<hour>          hash   the aggregate counter fields of an epoch hour (no tuples)
 *   P:{s}:uh:<hour>          HLL    human visitors of the hour
 *   P:{s}:sh:<hour>          HLL    human sessions of the hour
 *   P:{s}:cd:<day>           hash   the same per UTC epoch day (minute / 1440), so a week's unfiltered
 *   P:{s}:ud:<day>           HLL    totals and series read a few keys, not 10,080 minutes
 *   P:{s}:sd:<day>           HLL
 *   P:{s}:uc:<u|s>:<a>:<b>   HLL    the union of the visitor (u) or session (s) day keys of days [a, b),
 *                                   made by a reader on first use (speed.reader.ts UNION_COUNT_LUA), deleted by
 *                                   the apply script as soon as a write reaches one of its days; short TTL
 *   P:{s}:ucx                set    the union keys that exist (the apply script's list to delete from)
 *   P:{s}:idx                zset   minutes that hold data (score = minute)
 *   P:{s}:off                hash   `<topic>:<partition>` → highest applied offset
 *   P:{s}:meta               hash   `from`: start of coverage after a rebuild or retirement
 *   P:{s}:ep                 hash   the site's epoch (speed/epoch.store.ts): a lost or flushed Redis loses
 *                                   it with the buckets, which is how the loss is seen; never a TTL
 *   P:sites                  set    sites seen (no tag: read by admin commands only)
 *   P:format                 string data format of the store (core/data-format.ts); never a TTL;
 *                                   a clear of every site deletes it with the rest
 */
import { MISSING_LABEL } from '../core/views.ts';

export const MINUTE_MS = 60_000;

/** What a custom property's set counts: human page views (p) or custom events (e). */
export type PropKind = 'p' | 'e';
/** Minutes of an hour key and of a (UTC) day key. */
export const HOUR_MINUTES = 60;
export const DAY_MINUTES = 1440;

/**
 * Counter-hash aggregate fields, for unfiltered reads without scanning tuples. Revenue is never
 * summed across currencies (contract 10): its aggregate is one field per currency, revenueField().
 */
export const AGG = { pageviews: 'pv', botPageviews: 'bpv', events: 'ev', botEvents: 'bev', purchases: 'pu', revenue: 'rev' } as const;

/** Kinds of tuple fields: human page view, custom event, purchase count, revenue, bot page view, other bot event. */
export const KIND = { pageview: 'p', custom: 'c', purchase: 'u', revenue: 'r', botPageview: 'b', botOther: 'x' } as const;

/**
 * Dimensions of the tuple, in field order after kind and event name. The UTM tags and the channel
 * (format 7) ride in the tuple like the UTM source, so they combine with every other tuple filter.
 */
export const TUPLE_DIMS = ['country', 'device', 'browser', 'os', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'channel'] as const;
export type TupleDim = (typeof TUPLE_DIMS)[number];

/**
 * Dimensions with per-value visitor sketches. Each costs one more PFADD per visitor and minute;
 * with all five, Redis time per event tripled (README, measured), so only the two most asked.
 */
export const HLL_DIMS: readonly TupleDim[] = ['country', 'device'];
export const HLL_DIM_INDEX: readonly number[] = HLL_DIMS.map((d) => TUPLE_DIMS.indexOf(d));

/**
 * Custom events and purchases also add their visitor to a sketch per event name (format 6), listed
 * in the minute's index like the HLL_DIMS values: goals' converting visitors and conversion rates
 * across W. Names are clients' own, so at most NAME_SKETCHES_PER_MINUTE per site and minute get one
 * (per consumer process); the visitors of the others go to `event_name:(other)`.
 */
export const NAME_SKETCH_DIM = 'event_name';
export const NAME_SKETCHES_PER_MINUTE = 64;

/**
 * Separates the parts of a tuple field. A missing value is stored as its core/views.ts labelOf()
 * label, except a missing UTM tag, stored empty (most events have none: five `(none)` made a tuple
 * field 30 bytes longer, in every apply call and counter hash); parseTupleField labels it.
 */
export const SEP = '\x1f';

/**
 * Purchase and revenue tuples carry the purchase's currency after the TUPLE_DIMS values, at this
 * index of their dimension values; other tuples have none there (core/views.ts MISSING_LABEL.currency).
 */
export const CURRENCY_INDEX = TUPLE_DIMS.length;

/** The aggregate revenue field of one currency (ISO 4217 code, or its missing label). */
export function revenueField(currency: string): string {
  return AGG.revenue + SEP + currency;
}

/** A tag must not contain braces, or Redis would hash on the wrong part of the key. */
export function siteTag(site: string): string {
  return '{' + site.replace(/[{}%]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()) + '}';
}

export function toMinute(t: number): number {
  return Math.floor(t / MINUTE_MS);
}

/** Minute keys expire TTL after the minute ends (event time), so coverage is exact. */
export function expireAtOf(minute: number, ttlMs: number): number {
  return (minute + 1) * MINUTE_MS + ttlMs;
}

export class SpeedKeys {
  constructor(readonly prefix: string) {}

  site(site: string): SiteKeys {
    return new SiteKeys(`${this.prefix}:${siteTag(site)}`);
  }

  get sites(): string {
    return `${this.prefix}:sites`;
  }

  /** The store's data-format marker (speed/format.marker.ts). */
  get format(): string {
    return `${this.prefix}:format`;
  }

  /** SCAN pattern for every key of a site (or of all sites). */
  pattern(site?: string): string {
    const tag = site === undefined ? '*' : siteTag(site).replace(/[*?[\]\\]/g, (c) => '\\' + c);
    return `${this.prefix}:${tag}${site === undefined ? '' : ':*'}`;
  }
}

export class SiteKeys {
  constructor(readonly base: string) {}
  counters(min: number): string {
    return `${this.base}:c:${min}`;
  }
  visitors(min: number): string {
    return `${this.base}:u:${min}`;
  }
  dimVisitors(min: number, dimValue: string): string {
    return `${this.base}:u:${min}:${dimValue}`;
  }
  dimIndex(min: number): string {
    return `${this.base}:dk:${min}`;
  }
  sessions(min: number): string {
    return `${this.base}:s:${min}`;
  }
  pages(min: number): string {
    return `${this.base}:pg:${min}`;
  }
  referrers(min: number): string {
    return `${this.base}:rf:${min}`;
  }
  /** Listed property key → the first minute its values were kept from (the speed consumer reads the sites file). */
  get propsSince(): string {
    return `${this.base}:prk`;
  }
  /** A listed custom property's values: `kind` p (human page views) or e (custom events). */
  props(min: number, kind: PropKind, key: string): string {
    return `${this.base}:pr:${kind}:${min}:${key}`;
  }
  propsHour(hour: number, kind: PropKind, key: string): string {
    return `${this.base}:prh:${kind}:${hour}:${key}`;
  }
  /** Top pages of an epoch hour (minute / 60). */
  pagesHour(hour: number): string {
    return `${this.base}:pgh:${hour}`;
  }
  referrersHour(hour: number): string {
    return `${this.base}:rfh:${hour}`;
  }
  /** Aggregate counters, visitors and sessions of an epoch hour (minute / 60). */
  countersHour(hour: number): string {
    return `${this.base}:ch:${hour}`;
  }
  visitorsHour(hour: number): string {
    return `${this.base}:uh:${hour}`;
  }
  sessionsHour(hour: number): string {
    return `${this.base}:sh:${hour}`;
  }
  /** The same of a UTC epoch day (minute / 1440). */
  countersDay(day: number): string {
    return `${this.base}:cd:${day}`;
  }
  visitorsDay(day: number): string {
    return `${this.base}:ud:${day}`;
  }
  sessionsDay(day: number): string {
    return `${this.base}:sd:${day}`;
  }
  /** The union of the visitor or session keys of UTC days [from, to) (speed.reader.ts). */
  daysUnion(metric: 'visitors' | 'sessions', from: number, to: number): string {
    return `${this.base}:uc:${metric === 'visitors' ? 'u' : 's'}:${from}:${to}`;
  }
  get daysUnions(): string {
    return `${this.base}:ucx`;
  }
  /** Event ids counted in a minute (by event time) → `partition:offset` of their record, kept SPEED_DEDUPE_WINDOW. */
  eventIds(min: number): string {
    return `${this.base}:e:${min}`;
  }
  /** The visits of a minute: visit id → `first:last:pageviews` (visitPart; merged by apply.script.ts). */
  visits(min: number): string {
    return `${this.base}:v:${min}`;
  }
  /** Visit state per visitor (apply.script.ts). */
  get visitState(): string {
    return `${this.base}:vs`;
  }
  get index(): string {
    return `${this.base}:idx`;
  }
  get offsets(): string {
    return `${this.base}:off`;
  }
  get meta(): string {
    return `${this.base}:meta`;
  }
  /** The site's epoch (speed/epoch.store.ts). */
  get epoch(): string {
    return `${this.base}:ep`;
  }
  temp(id: string): string {
    return `${this.base}:tmp:${id}`;
  }
  /** The fixed keys of one minute (per-value visitor sketches are listed in dimIndex). */
  minuteKeys(min: number): string[] {
    return [this.counters(min), this.visitors(min), this.dimIndex(min), this.sessions(min), this.visits(min), this.pages(min), this.referrers(min)];
  }
}

/**
 * The field that moves a grown hash of ids (event ids `e:`, visits `v:`, visit states `vs`) to
 * Redis' hash-table encoding (apply.script.ts `setIds`); no id is empty, and readers skip it.
 */
export const HASH_TABLE_FIELD = '';
/** Fields from which a hash of ids is moved to the hash-table encoding. */
export const HASH_TABLE_AT = 64;
/** Longer than Redis' default hash-max-listpack-value (64 bytes), so that the HSETNX converts the hash. */
export const HASH_TABLE_VALUE = 'twinlane: a hash of ids this large is faster in hash-table encoding than as a listpack';

/** A visit's part of a minute as the visit hash `v:` holds it: `first:last:pageviews` (ms, ms, count). */
export function visitPart(first: number, last: number, pageviews: number): string {
  return `${first}:${last}:${pageviews}`;
}

/** visitPart's text as numbers. */
export function parseVisitPart(text: string): { first: number; last: number; pageviews: number } {
  const [first, last, pageviews] = text.split(':').map(Number) as [number, number, number];
  return { first, last, pageviews };
}

export function offsetField(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export function tupleField(kind: string, name: string, values: readonly string[]): string {
  return kind + SEP + name + SEP + values.join(SEP);
}

/** The UTM tags' places among a tuple's dimension values (stored empty when missing). */
const UTM_INDEXES: readonly number[] = TUPLE_DIMS.flatMap((d, i) => (d.startsWith('utm_') ? [i] : []));

/** Splits a tuple field into kind, event name and dimension values (labelled); undefined for aggregates. */
export function parseTupleField(field: string): { kind: string; name: string; dims: string[] } | undefined {
  if (field.length < 2 || field[1] !== SEP) return undefined;
  const parts = field.split(SEP);
  const dims = parts.slice(2);
  for (const i of UTM_INDEXES) if (dims[i] === '') dims[i] = MISSING_LABEL[TUPLE_DIMS[i]!];
  return { kind: parts[0]!, name: parts[1]!, dims };
}
