/**
 * Folds one site's events of a batch into per-minute sums and sets in memory, so a batch of
 * thousands of events becomes a few hundred Redis operations (pre-aggregation is what lets
 * the speed layer outrun per-event commands by an order of magnitude, see MEASURED.md).
 */
import { labelOf, MISSING_PROPERTY_LABEL } from '../core/views.ts';
import { CHANNELS, channelOf, type Channel } from '../core/channels.ts';
import type { RollupEvent } from './event.decoder.ts';
import { AGG, HLL_DIMS, HLL_DIM_INDEX, KIND, NAME_SKETCH_DIM, NAME_SKETCHES_PER_MINUTE, SEP, revenueField, toMinute, type PropKind } from './redis.keys.ts';
import { tupleCode, tupleFieldOf } from './tuple.codes.ts';
import type { MinuteRollup, OffsetEvent, SiteRollup } from './types.ts';

/**
 * A minute being folded. Tuple counters are keyed by code (tuple.codes.ts). Each human visitor
 * maps to the packed ids of its first event's HLL dimension values (dimsCode), so one map update
 * per event stands for the visitor sketch and every per-value sketch; a visitor seen again with
 * other values (or values without ids) adds (visitor, sketch name) pairs to `extra`. result()
 * turns both into MinuteRollup fields.
 */
interface MinuteState {
  minute: number;
  counters: Map<string, number>;
  tuples: Map<number, number>;
  visitors: Map<string, number>;
  extra: string[];
  pages: Map<string, number>;
  referrers: Map<string, number>;
  /** Event id → `partition:offset` (dedupe on). */
  ids?: Map<string, string>;
  /** `<p|e><key>` → value → count (MinuteRollup.props). */
  props?: Map<string, Map<string, number>>;
}

function emptyMinute(minute: number): MinuteState {
  return { minute, counters: new Map(), tuples: new Map(), visitors: new Map(), extra: [], pages: new Map(), referrers: new Map() };
}

/**
 * Dedupe of client retries (the SDK and the tracker resend an event with its id): `tag` names the
 * partition (`<partition>:`), so each id is recorded with the record that counted it; `exclude`
 * holds offsets whose ids Redis already has from another record (they are not counted).
 */
export interface DedupeScope {
  tag: string;
  exclude?: ReadonlySet<string>;
}

/** Ids of HLL dimension values (per dimension, bounded) and the sketch name of each. */
const DIM_IDS = 4096;
const dimIds: Map<string, number>[] = HLL_DIMS.map(() => new Map());
const dimSketchNames: string[][] = HLL_DIMS.map(() => []);

/** Packed ids of the event's HLL dimension values, or -1 when one has no id (ids used up). */
function dimsCode(e: RollupEvent): number {
  let code = 0;
  for (let j = 0, scale = 1; j < HLL_DIMS.length; j++, scale *= DIM_IDS) {
    const value = tupleValue(e, HLL_DIM_INDEX[j]!);
    let id = dimIds[j]!.get(value);
    if (id === undefined) {
      if (dimSketchNames[j]!.length >= DIM_IDS) return -1;
      id = dimSketchNames[j]!.push(HLL_DIMS[j] + ':' + value) - 1;
      dimIds[j]!.set(value, id);
    }
    code += id * scale;
  }
  return code;
}

/** Appends (visitor, sketch name) for each HLL dimension value of a code from dimsCode. */
function pushSketches(out: string[], visitor: string, code: number): void {
  for (let j = 0; j < HLL_DIMS.length; j++) {
    const id = code % DIM_IDS;
    code = (code - id) / DIM_IDS;
    out.push(visitor, dimSketchNames[j]![id]!);
  }
}

/** A visitor's dimension values when they have no code: sketch names spelled out. */
function pushSketchesOf(out: string[], e: RollupEvent): void {
  for (let j = 0; j < HLL_DIMS.length; j++) out.push(e.visitor_id, HLL_DIMS[j] + ':' + tupleValue(e, HLL_DIM_INDEX[j]!));
}

/** Event names given a sketch per site and minute (`site\u0000minute` → names), oldest site-minutes forgotten first. */
const nameSketches = new Map<string, Set<string>>();
const NAME_SKETCH_MINUTES = 20_000;

/** The sketch a custom event's or purchase's visitor goes to: its name's, or `(other)` past the cap. */
function nameSketch(site: string, minute: number, name: string): string {
  const key = site + '\u0000' + minute;
  let names = nameSketches.get(key);
  if (!names) {
    if (nameSketches.size >= NAME_SKETCH_MINUTES) for (const k of [...nameSketches.keys()].slice(0, 1_000)) nameSketches.delete(k);
    nameSketches.set(key, (names = new Set()));
  }
  if (!names.has(name)) {
    if (names.size >= NAME_SKETCHES_PER_MINUTE) return `${NAME_SKETCH_DIM}:(other)`;
    names.add(name);
  }
  return `${NAME_SKETCH_DIM}:${name}`;
}

/** Records visitor `v` with dimension code `code` (from dimsCode, or another builder's map). */
function addVisitor(m: MinuteState, v: string, code: number): void {
  const prev = m.visitors.get(v);
  if (prev === undefined) m.visitors.set(v, code);
  else if (prev !== code && code >= 0) pushSketches(m.extra, v, code);
}

/** An untagged event's acquisition part per channel: five empty tags, then the channel (the common case, no concatenation). */
const UNTAGGED = new Map<Channel, string>(CHANNELS.map((c) => [c, SEP.repeat(5) + c]));

/**
 * The tuple's acquisition part (tuple.codes.ts): the UTM source, medium, campaign, term and content
 * (empty when missing: redis.keys.ts parseTupleField labels them), then the channel
 * (core/channels.ts, from the referrer and the tags), joined by SEP.
 */
export function acquisitionOf(e: RollupEvent): string {
  const channel = channelOf(e);
  if (e.utm_source === null && e.utm_medium === null && e.utm_campaign === null && e.utm_term === null && e.utm_content === null) return UNTAGGED.get(channel)!;
  return (e.utm_source ?? '') + SEP + (e.utm_medium ?? '') + SEP + (e.utm_campaign ?? '') + SEP + (e.utm_term ?? '') + SEP + (e.utm_content ?? '') + SEP + channel;
}

/**
 * Adds `n` to the tuple counter of the event with `kind`. Values are stored as the read contract
 * labels them (core/views.ts labelOf), missing UTM tags empty (parseTupleField labels those), so
 * filters and breakdowns read labels and a missing value is the same row on both sides of W.
 */
function addTuple(m: MinuteState, kind: string, e: RollupEvent, n: number): void {
  const name = labelOf('event_name', e.name), country = labelOf('country', e.country), device = labelOf('device', e.device_type);
  const browser = labelOf('browser', e.browser), os = labelOf('os', e.os), acquisition = acquisitionOf(e);
  const code = tupleCode(kind, name, country, device, browser, os, acquisition);
  if (code >= 0) add(m.tuples, code, n);
  else add(m.counters, kind + SEP + name + SEP + country + SEP + device + SEP + browser + SEP + os + SEP + acquisition, n);
}

/** Adds `n` to the tuple counter of a purchase or its revenue: the tuple, then its currency (CURRENCY_INDEX). */
function addCurrencyTuple(m: MinuteState, kind: string, e: RollupEvent, acquisition: string, currency: string, n: number): void {
  const name = labelOf('event_name', e.name), country = labelOf('country', e.country), device = labelOf('device', e.device_type);
  const browser = labelOf('browser', e.browser), os = labelOf('os', e.os);
  add(m.counters, kind + SEP + name + SEP + country + SEP + device + SEP + browser + SEP + os + SEP + acquisition + SEP + currency, n);
}

function add<K>(map: Map<K, number>, key: K, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** Adds counts keyed twice (property sets: `<p|e><key>` → value → count) into `into`. */
export function addNested(into: Map<string, Map<string, number>>, from: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
  for (const [k, values] of from) {
    let mine = into.get(k);
    if (!mine) into.set(k, (mine = new Map()));
    for (const [v, n] of values) add(mine, v, n);
  }
}

/** Whether Kafka offset `a` is above `b` (offsets are decimal strings of int64). */
export function offsetAbove(a: string, b: string | null): boolean {
  if (b === null) return true;
  return a.length !== b.length ? a.length > b.length : a > b;
}

/**
 * Accumulates one site's events of a partition batch, one event at a time, so decoded events die
 * young (folding a whole decoded batch at once kept tens of MB alive through scavenges). Events
 * at or below `appliedOffset` were applied before a crash or by another instance: counted apart.
 */
export class SiteRollupBuilder {
  private readonly minutes = new Map<number, MinuteState>();
  /** Human visitor → event times, for the server's visits (SiteRollup.visits). */
  private readonly visits = new Map<string, number[]>();
  private last: MinuteState | undefined;
  /** Events folded in (humans and bots). */
  events = 0;
  /** Events skipped because their offset was already applied. */
  alreadyApplied = 0;
  maxOffset: string | null = null;
  /** Lowest offset seen, folded or not: a record below it means the rollup holds nothing applied. */
  minOffset: string | null = null;
  /** Events not counted: their id was counted before (in this batch, or by another record: `exclude`). */
  duplicates = 0;
  /** Ids that another partition's builder absorbed here held too: copies of one event, both counted in this rollup. */
  copiesAbsorbed = 0;

  constructor(
    readonly site: string,
    readonly appliedOffset: string | null,
    private readonly dedupe?: DedupeScope,
    /** The site's listed custom property keys (core/sites.ts `properties`): their values are kept per minute. */
    private readonly propertyKeys: readonly string[] = [],
  ) {}

  add(offset: string, e: RollupEvent): void {
    if (this.minOffset === null || offsetAbove(this.minOffset, offset)) this.minOffset = offset;
    if (!offsetAbove(offset, this.appliedOffset)) {
      this.alreadyApplied++;
      return;
    }
    const minute = toMinute(e.event_time);
    let m = this.last !== undefined && this.last.minute === minute ? this.last : this.minutes.get(minute);
    if (!m) this.minutes.set(minute, (m = emptyMinute(minute)));
    this.last = m;
    if (this.dedupe) {
      const ids = (m.ids ??= new Map());
      if (this.dedupe.exclude?.has(offset) || ids.has(e.event_id)) {
        this.duplicates++;
        if (offsetAbove(offset, this.maxOffset)) this.maxOffset = offset; // its offset is consumed all the same
        return;
      }
      ids.set(e.event_id, this.dedupe.tag + offset);
    }
    if (e.is_bot) foldBot(m, e);
    else {
      foldHuman(m, e);
      if (this.propertyKeys.length > 0 && (e.type === 'pageview' || e.type === 'custom')) foldProps(m, e.type === 'pageview' ? 'p' : 'e', e.properties, this.propertyKeys);
      // Page views are named `pageview` unless the client named them (whose visitors, rare, are kept like a custom event's).
      const name = labelOf('event_name', e.name);
      if (e.type !== 'pageview' || name !== 'pageview') m.extra.push(e.visitor_id, nameSketch(this.site, minute, name));
      const mark = e.event_time * 2 + (e.type === 'pageview' ? 1 : 0);
      const times = this.visits.get(e.visitor_id);
      if (times) times.push(mark);
      else this.visits.set(e.visitor_id, [mark]);
    }
    if (offsetAbove(offset, this.maxOffset)) this.maxOffset = offset;
    this.events++;
  }

  /**
   * Folds in another partition's builder of the same site (its minOffset/maxOffset stay its own:
   * offsets are per partition, so the caller keeps them before absorbing).
   */
  absorb(other: SiteRollupBuilder): void {
    for (const [minute, o] of other.minutes) {
      const m = this.minutes.get(minute);
      if (!m) {
        this.minutes.set(minute, o);
        continue;
      }
      for (const [k, n] of o.counters) add(m.counters, k, n);
      for (const [k, n] of o.tuples) add(m.tuples, k, n);
      for (const [k, n] of o.pages) add(m.pages, k, n);
      for (const [k, n] of o.referrers) add(m.referrers, k, n);
      for (const [v, code] of o.visitors) addVisitor(m, v, code);
      for (const x of o.extra) m.extra.push(x);
      if (o.props) addNested((m.props ??= new Map()), o.props);
      if (o.ids) {
        m.ids ??= new Map();
        for (const [id, at] of o.ids) {
          if (!m.ids.has(id)) m.ids.set(id, at);
          else this.copiesAbsorbed++;
        }
      }
    }
    for (const [v, times] of other.visits) {
      const mine = this.visits.get(v);
      if (mine) mine.push(...times);
      else this.visits.set(v, times);
    }
    this.last = undefined;
    this.events += other.events;
    this.duplicates += other.duplicates;
  }

  /** Offsets left out as duplicates of records counted before (DedupeScope.exclude). */
  get excluded(): ReadonlySet<string> | undefined {
    return this.dedupe?.exclude;
  }

  /** The ids folded per minute (dedupe on). */
  *eventIds(): Generator<[minute: number, ids: string[]]> {
    for (const [minute, m] of this.minutes) if (m.ids?.size) yield [minute, [...m.ids.keys()]];
  }

  /** The `partition:offset` of the record that counted `id` in `minute` here. */
  countedBy(minute: number, id: string): string | undefined {
    return this.minutes.get(minute)?.ids?.get(id);
  }

  /** The rollup, or null when every event was already applied. */
  result(): SiteRollup | null {
    if (this.maxOffset === null) return null;
    const minutes = new Map<number, MinuteRollup>();
    for (const [minute, m] of this.minutes) {
      for (const [code, n] of m.tuples) add(m.counters, tupleFieldOf(code), n);
      const pairs: string[] = [];
      for (const [v, code] of m.visitors) if (code >= 0) pushSketches(pairs, v, code);
      const dimVisitors = new Map<string, string[]>();
      for (const list of [pairs, m.extra]) {
        for (let i = 0; i < list.length; i += 2) {
          let ids = dimVisitors.get(list[i + 1]!);
          if (!ids) dimVisitors.set(list[i + 1]!, (ids = []));
          ids.push(list[i]!);
        }
      }
      const { counters, pages, referrers, ids, props } = m;
      minutes.set(minute, { minute, counters, visitors: [...m.visitors.keys()], dimVisitors, pages, referrers, ...(ids?.size ? { ids } : {}), ...(props?.size ? { props } : {}) });
    }
    for (const times of this.visits.values()) times.sort((a, b) => a - b);
    return { site: this.site, minutes, visits: this.visits, events: this.events, maxOffset: this.maxOffset };
  }
}

function foldHuman(m: MinuteState, e: RollupEvent): void {
  const code = dimsCode(e);
  addVisitor(m, e.visitor_id, code);
  if (code < 0) pushSketchesOf(m.extra, e);
  if (e.type === 'pageview') {
    add(m.counters, AGG.pageviews, 1);
    addTuple(m, KIND.pageview, e, 1);
    add(m.pages, labelOf('page', e.path), 1);
    // Direct visits are a referrer row too ('(direct)'), as in batch: a breakdown by referrer and
    // a referrer filter answer them instead of leaving them out.
    add(m.referrers, labelOf('referrer', e.referrer_host), 1);
  } else if (e.type === 'custom') {
    add(m.counters, AGG.events, 1);
    addTuple(m, KIND.custom, e, 1);
  } else {
    // Revenue per currency, never summed across them (contract 10); purchases are rare enough for
    // their tuples to be spelled out (the packed codes have no room for a currency).
    const revenue = e.revenue_micros ?? 0;
    const currency = labelOf('currency', e.currency);
    add(m.counters, AGG.purchases, 1);
    add(m.counters, revenueField(currency), revenue);
    const acquisition = acquisitionOf(e);
    addCurrencyTuple(m, KIND.purchase, e, acquisition, currency, 1);
    addCurrencyTuple(m, KIND.revenue, e, acquisition, currency, revenue);
  }
}

/** Counts the event under its value of each listed property key (none or an empty one: `(none)`, as batch labels it). */
function foldProps(m: MinuteState, kind: PropKind, properties: Readonly<Record<string, string>> | undefined, keys: readonly string[]): void {
  for (const key of keys) {
    const raw = properties?.[key];
    const value = raw === undefined || raw === '' ? MISSING_PROPERTY_LABEL : raw;
    const props = (m.props ??= new Map());
    let values = props.get(kind + key);
    if (!values) props.set(kind + key, (values = new Map()));
    add(values, value, 1);
  }
}

function foldBot(m: MinuteState, e: RollupEvent): void {
  if (e.type === 'pageview') {
    add(m.counters, AGG.botPageviews, 1);
    addTuple(m, KIND.botPageview, e, 1);
  } else {
    add(m.counters, AGG.botEvents, 1);
    addTuple(m, KIND.botOther, e, 1);
  }
}

/** Value of tuple dimension `i` (TUPLE_DIMS order) of the HLL dimensions (HLL_DIM_INDEX), a missing one by its contract label. */
function tupleValue(e: RollupEvent, i: number): string {
  switch (i) {
    case 0:
      return labelOf('country', e.country);
    case 1:
      return labelOf('device', e.device_type);
    case 2:
      return labelOf('browser', e.browser);
    case 3:
      return labelOf('os', e.os);
    case 4:
      return labelOf('utm_source', e.utm_source);
    default:
      throw new RangeError(`tuple dimension ${i} has no per-value visitor sketches`);
  }
}

/**
 * Rolls up the events of one site whose offset is above `appliedOffset` (the ones at or
 * below it were applied before a crash or by another instance). Returns null when none is left.
 */
export function rollupSite(site: string, events: readonly OffsetEvent[], appliedOffset: string | null = null, propertyKeys: readonly string[] = []): SiteRollup | null {
  const b = new SiteRollupBuilder(site, appliedOffset, undefined, propertyKeys);
  for (const { offset, event } of events) b.add(offset, event);
  return b.result();
}
