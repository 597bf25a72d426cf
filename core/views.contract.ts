/**
 * The shared suite of the read contract (cube.js `DriverTests` style): every ViewReader
 * implementation — the speed store, the batch snapshot, the in-memory test reader, later the
 * ClickHouse store — is handed the same generated events through a factory of its own test file,
 * and the same queries must give the answers of testing/truth.ts: exactly where the store promises
 * exact numbers, within the HyperLogLog bound for the unique counts of an approximate one.
 *
 * A store may refuse a query with UnsupportedQueryError (serving shows those buckets missing) or
 * leave a metric it never computes out of its values; it must declare both, so an undeclared
 * refusal fails, and whatever it does answer must be right. The events carry missing countries,
 * devices, browsers, OSes, referrers and UTM sources and purchases, so the labels and the revenue
 * unit of core/views.ts are held to as well.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { withinSketchBound } from '../testing/truth.assert.ts';
import { truthBreakdown, truthMultiBreakdown, truthSeries, truthTotals, truthVisitPages, type TruthValues } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { DIMENSIONS, METRICS, UnsupportedQueryError, type AnyDimension, type BreakdownQuery, type BreakdownRow, type Dimension, type FilterCondition, type Filters, type Grain, type Metric, type MetricValues, type ViewReader } from './views.ts';

const DAY = 86_400_000;
const BREAKDOWN_METRICS: BreakdownQuery['metric'][] = ['pageviews', 'visitors', 'events', 'revenue'];

/** The events a store under test is filled with, and the span it must then cover. */
export interface ContractData {
  events: readonly TwinlaneEvent[];
  sites: readonly string[];
  /** Two whole UTC days: batch covers only complete days; a speed store needs a TTL above 3 days. */
  from: number;
  to: number;
  /** UTC days holding a DST change (the time-zone cases' data): hours are asked around them. */
  dstDays?: readonly number[];
}

/** The custom property key the traffic gives custom events (`plan`: free or pro); a store that keeps listed keys only lists it. */
export const CONTRACT_PROPERTY = 'plan';

/** A query as the suite asks it, for a store's declaration of what it refuses. */
export type ContractQuery =
  | { kind: 'series' | 'totals'; metrics: readonly Metric[]; filters: Filters; eventName?: string; conditions?: readonly FilterCondition[] }
  | { kind: 'breakdown'; dimension: AnyDimension; metric: BreakdownQuery['metric']; filters: Filters; conditions?: readonly FilterCondition[]; dimensions?: readonly AnyDimension[]; visitPage?: 'entry' | 'exit' };

export interface ViewReaderContractOptions {
  /** Metrics the store never computes: absent from its values, never 0. */
  absentMetrics?: readonly Metric[];
  /** Metrics answered within the sketch bound instead of exactly (speed: visitors, sessions). */
  approximateMetrics?: readonly Metric[];
  /** Queries the store may refuse with UnsupportedQueryError. */
  refuses?: (q: ContractQuery) => boolean;
  /** How long filling the store may take. */
  setupTimeoutMs?: number;
}

/** Builds the implementation under test, filled with `data.events`; its test file cleans up. */
export type MakeReader = (data: ContractData) => Promise<ViewReader>;

/**
 * Seeded traffic over the two UTC days before `now`'s day, with values missing as the collector
 * stores them: no country (no geo match), the user-agent parser's `unknown` device with no browser
 * or OS, no referrer and no UTM source (the generator's own), per visitor so they are consistent.
 */
export function contractData(now = Date.now()): ContractData {
  const to = Math.floor(now / DAY) * DAY;
  const from = to - 2 * DAY;
  const sites = ['shop', 'blog'];
  const events = [...generateTraffic({ seed: 1212, sites, from, to, events: 4_000, visitorsPerSite: 300 })].map((e): TwinlaneEvent => {
    const n = Number(/(\d+)$/.exec(e.visitor_id)?.[1] ?? 0);
    let out = e;
    if (n % 5 === 0) out = { ...out, country: null };
    if (n % 7 === 3 && !e.is_bot) out = { ...out, device_type: 'unknown', browser: null, os: null };
    return out;
  });
  return { events: [...events, ...visitShapes(events, from)], sites: [...sites, VISITS_SITE], from, to };
}

/** A site holding only the visitor shapes of contract 9's session rule (visitShapes). */
export const VISITS_SITE = 'visits';

/**
 * Visitors whose visits only the server's rule cuts right (contract 9): one active across midnight
 * (its client changes session id at midnight: one visit), one idle for 31 minutes (two visits, the
 * client keeping one session id), one with two tabs at once plus a server-side purchase without a
 * session id (one visit). Four visits in all, three on the first day and two on the second.
 * `mid` is the midnight crossed (default: the UTC one after `from`).
 */
function visitShapes(template: readonly TwinlaneEvent[], from: number, mid = from + DAY): TwinlaneEvent[] {
  const base = template.find((e) => !e.is_bot && e.type === 'pageview')!;
  const MIN = 60_000;
  let n = 0;
  const event = (visitor: string, session: string, t: number, type: TwinlaneEvent['type'] = 'pageview'): TwinlaneEvent => ({
    ...base,
    event_id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    site_id: VISITS_SITE,
    type,
    name: type,
    event_time: t,
    received_time: t,
    visitor_id: visitor,
    session_id: session,
    revenue_micros: type === 'purchase' ? 12_340_000 : null,
  });
  const idle = from + 10 * 3_600_000;
  const tabs = mid + 6 * 3_600_000;
  return [
    event('midnight', 'a', mid - 20 * MIN),
    event('midnight', 'a', mid - 5 * MIN),
    event('midnight', 'b', mid + 10 * MIN),
    event('midnight', 'b', mid + 25 * MIN),
    event('idle', 'c', idle),
    event('idle', 'c', idle + 31 * MIN),
    event('idle', 'c', idle + 60 * MIN),
    event('tabs', 't1', tabs),
    event('tabs', 't2', tabs + 1 * MIN),
    event('tabs', 't1', tabs + 3 * MIN),
    event('tabs', 't2', tabs + 4 * MIN),
    event('tabs', '', tabs + 6 * MIN, 'purchase'),
  ];
}

/** Zones of the time-zone cases: DST of an hour, none but a half-hour offset, DST of 30 minutes. */
export const CONTRACT_ZONES = ['America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'] as const;

/** UTC offset of `zone` at `t` by Intl alone (not core/calendar.ts), in minutes. */
function offsetMinutes(zone: string, t: number): number {
  const p: Record<string, number> = {};
  const f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
  for (const part of f.formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Math.round((Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!) - Math.floor(t / 60_000) * 60_000) / 60_000);
}

/** The last UTC day before `before` on which `zone`'s offset changes. */
function lastChange(zone: string, before: number): number {
  for (let d = Math.floor(before / DAY) * DAY - DAY; d > before - 400 * DAY; d -= DAY) if (offsetMinutes(zone, d) !== offsetMinutes(zone, d + DAY)) return d;
  throw new Error(`no offset change of ${zone} in the year before ${new Date(before).toISOString()}`);
}

/**
 * Traffic of one site over whole UTC days holding the last DST change of New York and of Lord Howe
 * (weeks apart: the window spans a month or two, so month buckets are cut too), for the
 * time-zone cases. A speed store needs a TTL reaching back to `from`.
 */
export function zoneContractData(now = Date.now()): ContractData {
  // The window ends 3 days after the later change, which lies 5 days or more before now, so every
  // event is in the past. Of the two zones' last changes the later one is swapped for its zone's
  // change before it when they lie months apart (New York's spring change against Lord Howe's
  // spring change of October, say), so the window stays a month or so at any date.
  let ny = lastChange('America/New_York', now - 5 * DAY);
  let lh = lastChange('Australia/Lord_Howe', now - 5 * DAY);
  if (Math.abs(ny - lh) > 60 * DAY) {
    if (ny > lh) ny = lastChange('America/New_York', ny);
    else lh = lastChange('Australia/Lord_Howe', lh);
  }
  const from = Math.min(ny, lh) - 2 * DAY;
  const to = Math.max(ny, lh) + 3 * DAY;
  const sites = ['zoned'];
  const events = [...generateTraffic({ seed: 1313, sites, from, to, events: 3_000, visitorsPerSite: 200 })];
  // The visit shapes around New York's midnight after its DST change day (not a UTC midnight).
  const nyMidnight = ny + DAY - offsetMinutes('America/New_York', ny + DAY) * 60_000;
  return { events: [...events, ...visitShapes(events, nyMidnight - DAY, nyMidnight)], sites: [...sites, VISITS_SITE], from, to, dstDays: [ny, lh] };
}

const FILTERS: Filters[] = [
  { country: '(unknown)' },
  { device: '(unknown)' },
  { country: 'DE', device: 'mobile' },
  { browser: '(unknown)', utm_source: '(none)' },
  { referrer: '(direct)' },
  { page: '/' },
  { event_name: 'signup' },
  { currency: 'EUR' },
];
/**
 * Filter conditions (several values ORed, the four operators, labels of missing values, ANDed with
 * each other and with equality filters), each with the equality filters it comes with.
 */
const CONDITIONS: { filters: Filters; conditions: FilterCondition[] }[] = [
  { filters: {}, conditions: [{ op: 'is', dimension: 'country', values: ['DE', 'US', '(unknown)'] }] },
  { filters: {}, conditions: [{ op: 'is_not', dimension: 'country', values: ['DE', '(unknown)'] }] },
  { filters: {}, conditions: [{ op: 'contains', dimension: 'device', values: ['obi', 'unk'] }] },
  { filters: {}, conditions: [{ op: 'contains_not', dimension: 'browser', values: ['Chrome', 'Safari'] }] },
  { filters: { device: 'desktop' }, conditions: [{ op: 'is_not', dimension: 'os', values: ['Windows'] }, { op: 'contains', dimension: 'utm_source', values: ['news', 'none'] }] },
  { filters: {}, conditions: [{ op: 'is', dimension: 'event_name', values: ['signup', 'share'] }] },
  { filters: {}, conditions: [{ op: 'is_not', dimension: 'currency', values: ['USD'] }] },
  { filters: {}, conditions: [{ op: 'contains', dimension: 'page', values: ['/blog/', '/docs/'] }] },
  { filters: {}, conditions: [{ op: 'is', dimension: 'page', values: ['/', '/pricing/3'] }] },
  { filters: {}, conditions: [{ op: 'is_not', dimension: 'referrer', values: ['(direct)', 'www.google.com'] }] },
  { filters: {}, conditions: [{ op: 'contains_not', dimension: 'page', values: ['/products/'] }] },
  // Goals' page patterns: `*` any run of characters, the whole path matching.
  { filters: {}, conditions: [{ op: 'matches', dimension: 'page', values: ['/docs/*', '/blog/1*0'] }] },
  { filters: { device: 'mobile' }, conditions: [{ op: 'matches', dimension: 'event_name', values: ['sign*', '*_cart'] }] },
];

/**
 * Asked one group at a time, so a store's refusal of one does not hide the others; page views
 * alone too under a page or referrer filter (a store may keep only those per page or referrer).
 */
function metricGroups(filters: Filters, conditions: readonly FilterCondition[] = []): Metric[][] {
  const groups: Metric[][] = [['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'], ['visitors'], ['sessions'], ['bounce_rate', 'visit_duration']];
  const perPage = filters.page !== undefined || filters.referrer !== undefined || conditions.some((c) => c.dimension === 'page' || c.dimension === 'referrer');
  return perPage ? [['pageviews'], ...groups] : groups;
}

export function viewReaderContract(name: string, makeReader: MakeReader, options: ViewReaderContractOptions = {}): void {
  const absent = new Set(options.absentMetrics ?? []);
  const approximate = new Set(options.approximateMetrics ?? []);
  const data = contractData();
  const { events, from, to } = data;
  let reader: ViewReader;

  /** Runs a query; a refusal passes only when declared, anything answered is checked. */
  async function ask<T>(q: ContractQuery, where: string, run: () => Promise<T>, check: (answer: T) => void): Promise<'answered' | 'refused'> {
    let answer: T;
    try {
      answer = await run();
    } catch (err) {
      if (!(err instanceof UnsupportedQueryError)) throw err;
      expect(options.refuses?.(q) ?? false, `${name} refused ${where} without declaring it: ${err.message}`).toBe(true);
      return 'refused';
    }
    check(answer);
    return 'answered';
  }

  function expectValues(got: MetricValues, want: TruthValues, metrics: readonly Metric[], where: string): void {
    for (const m of metrics) {
      const value = got[m];
      if (absent.has(m)) {
        expect(value, `${where} ${m}: declared absent`).toBeUndefined();
        continue;
      }
      if (value === undefined) expect.unreachable(`${where} ${m}: absent, truth ${want[m]}`);
      if (approximate.has(m)) expect(withinSketchBound(value, want[m]), `${where} ${m}: ${value} vs ${want[m]}`).toBe(true);
      else if (m === 'bounce_rate' || m === 'visit_duration') expect(value, `${where} ${m}`).toBeCloseTo(want[m], 9);
      else expect(value, `${where} ${m}`).toBe(want[m]);
      if (m === 'revenue') expect(Number.isInteger(value), `${where} revenue is integer micros: ${value}`).toBe(true);
    }
  }

  /** Rows ranked, one per value, each equal to the truth; the top `limit` counts (ties may swap). */
  function expectRanked(got: BreakdownRow[], want: BreakdownRow[], limit: number, approx: boolean, where: string): void {
    expect(new Set(got.map((r) => r.value)).size, `${where}: one row per value`).toBe(got.length);
    expect(got.length, `${where}: rows`).toBe(Math.min(limit, want.length));
    for (let i = 1; i < got.length; i++) expect(got[i]!.count, `${where}: ranked`).toBeLessThanOrEqual(got[i - 1]!.count);
    const truth = new Map(want.map((r) => [r.value, r.count]));
    for (const r of got) {
      const t = truth.get(r.value);
      if (t === undefined) expect.unreachable(`${where}: row "${r.value}" is not in the truth`);
      if (approx) expect(withinSketchBound(r.count, t), `${where} "${r.value}": ${r.count} vs ${t}`).toBe(true);
      else expect(r.count, `${where} "${r.value}"`).toBe(t);
    }
    if (!approx) expect(got.map((r) => r.count), `${where}: the top counts`).toEqual(want.slice(0, limit).map((r) => r.count));
  }

  describe(`ViewReader contract: ${name}`, () => {
    beforeAll(async () => {
      reader = await makeReader(data);
    }, options.setupTimeoutMs ?? 60_000);

    describe("in the site's time zone", () => {
      const zoned = zoneContractData();
      let zReader: ViewReader;
      beforeAll(async () => {
        zReader = await makeReader(zoned);
      }, options.setupTimeoutMs ?? 60_000);

      it('cuts hour, day, week and month buckets in each zone, over DST changes, like the truth', async () => {
        const site = zoned.sites[0]!;
        const metrics = METRICS.filter((m) => !absent.has(m));
        for (const zone of CONTRACT_ZONES)
          for (const grain of ['hour', 'day', 'week', 'month'] as Grain[]) {
            // Hours around each DST change (the whole window would be a thousand and more buckets).
            const ranges = grain === 'hour' ? zoned.dstDays!.map((d) => [d - DAY, d + 2 * DAY] as const) : [[zoned.from, zoned.to] as const];
            for (const [a, z] of ranges) {
              const where = `${zone} ${grain} from ${new Date(a).toISOString()}`;
              const truth = truthSeries(zoned.events, { site, grain, from: a, to: z, zone });
              const points = await zReader.series({ site, grain, from: a, to: z, metrics, zone });
              expect(points.map((p) => p.start), `${where} buckets`).toEqual([...truth.keys()]);
              for (const p of points) expectValues(p.values, truth.get(p.start)!, metrics, `${where} ${new Date(p.start).toISOString()}`);
            }
          }
      });

      it("counts the server's visits per local day: across New York's midnight, after 31 idle minutes, two tabs", async () => {
        const zone = 'America/New_York';
        const metrics = (['sessions', 'bounce_rate', 'visit_duration', 'pageviews'] as Metric[]).filter((m) => !absent.has(m));
        const truth = truthSeries(zoned.events, { site: VISITS_SITE, grain: 'day', from: zoned.from, to: zoned.to, zone });
        expect([...truth.values()].reduce((n, t) => n + t.sessions, 0), 'visits per local day in the truth').toBe(5);
        const points = await zReader.series({ site: VISITS_SITE, grain: 'day', from: zoned.from, to: zoned.to, metrics, zone });
        expect(points.map((p) => p.start)).toEqual([...truth.keys()]);
        for (const p of points) expectValues(p.values, truth.get(p.start)!, metrics, `visits ${zone} ${new Date(p.start).toISOString()}`);
        expectValues(await zReader.totals({ site: VISITS_SITE, from: zoned.from, to: zoned.to, metrics, zone }), truthTotals(zoned.events, { site: VISITS_SITE, from: zoned.from, to: zoned.to }), metrics, 'visits totals');
      });
    });

    it('covers the span it was filled with', async () => {
      for (const site of data.sites) {
        const cov = await reader.coverage(site);
        expect(cov, `${site} coverage`).not.toBeNull();
        expect(cov!.from).toBeLessThanOrEqual(from);
        expect(cov!.to).toBeGreaterThanOrEqual(to);
      }
    });

    it('answers series at minute, hour and day grain like the truth, one point per bucket', async () => {
      for (const site of data.sites)
        for (const grain of ['minute', 'hour', 'day'] as Grain[]) {
          const points = await reader.series({ site, grain, from, to, metrics: [...METRICS] });
          const truth = truthSeries(events, { site, grain, from, to });
          expect(points.map((p) => p.start), `${site} ${grain} buckets`).toEqual([...truth.keys()]);
          for (const p of points) expectValues(p.values, truth.get(p.start)!, METRICS, `${site} ${grain} ${new Date(p.start).toISOString()}`);
        }
    });

    it('answers filtered series, missing-value labels and event names included', async () => {
      const site = data.sites[0]!;
      const queries = [...FILTERS.map((filters) => ({ filters })), { filters: {}, eventName: 'signup' }];
      for (const { filters, eventName } of queries as { filters: Filters; eventName?: string }[])
        for (const metrics of metricGroups(filters)) {
          const where = `series ${JSON.stringify(filters)}${eventName ? ` event ${eventName}` : ''} [${metrics}]`;
          const truth = truthSeries(events, { site, grain: 'hour', from, to, filters, eventName });
          await ask({ kind: 'series', metrics, filters, eventName }, where, () => reader.series({ site, grain: 'hour', from, to, metrics, filters, ...(eventName ? { eventName } : {}) }), (points) => {
            expect(points.map((p) => p.start), `${where} buckets`).toEqual([...truth.keys()]);
            for (const p of points) expectValues(p.values, truth.get(p.start)!, metrics, `${where} ${new Date(p.start).toISOString()}`);
          });
        }
    });

    it('answers filter conditions (is, is_not, contains, contains_not, several values, ANDed) in series, totals and breakdowns like the truth', async () => {
      const site = data.sites[0]!;
      const [a, z] = [from + 5 * 3_600_000 + 17 * 60_000, from + DAY + 3 * 3_600_000];
      let answered = 0;
      for (const [ci, { filters, conditions }] of CONDITIONS.entries()) {
        const label = `${JSON.stringify(filters)} ${conditions.map((c) => `${c.dimension} ${c.op} ${c.values.join('|')}`).join(' & ')}`;
        // The condition must select some events and leave some out, or it proves nothing.
        const selected = truthTotals(events, { site, from, to, filters, conditions }).pageviews + truthTotals(events, { site, from, to, filters, conditions }).events;
        expect(selected, `${label}: the data has events it selects`).toBeGreaterThan(0);
        // Series of the first group (counters, or page views alone), totals of every group: enough
        // to hold each store to each condition, and few queries (this suite runs against four stores).
        for (const [g, metrics] of metricGroups(filters, conditions).entries()) {
          const where = `series ${label} [${metrics}]`;
          const truth = g > 0 ? undefined : truthSeries(events, { site, grain: 'hour', from, to, filters, conditions });
          const r = !truth
            ? 'skipped'
            : await ask({ kind: 'series', metrics, filters, conditions }, where, () => reader.series({ site, grain: 'hour', from, to, metrics, filters, conditions }), (points) => {
                  expect(points.map((p) => p.start), `${where} buckets`).toEqual([...truth.keys()]);
                  for (const p of points) expectValues(p.values, truth.get(p.start)!, metrics, `${where} ${new Date(p.start).toISOString()}`);
                });
          const t = await ask({ kind: 'totals', metrics, filters, conditions }, `totals ${label} [${metrics}]`, () => reader.totals({ site, from: a, to: z, metrics, filters, conditions }), (v) =>
            expectValues(v, truthTotals(events, { site, from: a, to: z, filters, conditions }), metrics, `totals ${label} [${metrics}]`),
          );
          answered += (r === 'answered' ? 1 : 0) + (t === 'answered' ? 1 : 0);
        }
        for (const dimension of [ci % 2 ? 'page' : 'country'] as Dimension[]) {
          const where = `breakdown ${dimension} by pageviews ${label}`;
          const want = truthBreakdown(events, { site, from, to, dimension, metric: 'pageviews', filters, conditions });
          await ask({ kind: 'breakdown', dimension, metric: 'pageviews', filters, conditions }, where, () => reader.breakdown({ site, from, to, dimension, metric: 'pageviews', limit: 1_000, filters, conditions }), (rows) => expectRanked(rows, want, 1_000, false, where));
        }
      }
      expect(answered, 'conditions answered at all').toBeGreaterThan(0);
    });

    it('breaks down by two and three dimensions at once, one row per combination, like the truth', async () => {
      const site = data.sites[0]!;
      const cases: { dimensions: Dimension[]; metric: BreakdownQuery['metric']; filters?: Filters; conditions?: FilterCondition[] }[] = [
        { dimensions: ['country', 'device'], metric: 'pageviews' },
        { dimensions: ['country', 'device'], metric: 'visitors' },
        { dimensions: ['device', 'browser', 'os'], metric: 'pageviews', conditions: [{ op: 'is_not', dimension: 'country', values: ['US'] }] },
        { dimensions: ['event_name', 'device'], metric: 'events' },
        { dimensions: ['country', 'currency'], metric: 'revenue' },
        { dimensions: ['page', 'country'], metric: 'pageviews' },
      ];
      let answered = 0;
      for (const c of cases) {
        const where = `breakdown ${c.dimensions.join(' × ')} by ${c.metric}`;
        const want = truthMultiBreakdown(events, { site, from, to, dimensions: c.dimensions, metric: c.metric, filters: c.filters ?? {}, conditions: c.conditions ?? [] });
        expect(want.length, `${where}: the truth has rows`).toBeGreaterThan(1);
        const limit = 1_000;
        const r = await ask({ kind: 'breakdown', dimension: c.dimensions[0]!, dimensions: c.dimensions, metric: c.metric, filters: c.filters ?? {}, conditions: c.conditions ?? [] }, where, () =>
          reader.breakdown({ site, from, to, dimension: c.dimensions[0]!, dimensions: c.dimensions, metric: c.metric, limit, filters: c.filters ?? {}, conditions: c.conditions ?? [] }),
        (rows) => {
          expect(rows.length, `${where}: rows`).toBe(want.length);
          const truth = new Map(want.map((w) => [w.values.join('\u0000'), w.count]));
          for (const row of rows) {
            expect(row.values, `${where}: each row names its values`).toHaveLength(c.dimensions.length);
            const t = truth.get(row.values!.join('\u0000'));
            if (t === undefined) expect.unreachable(`${where}: row ${JSON.stringify(row.values)} is not in the truth`);
            if (approximate.has(c.metric)) expect(withinSketchBound(row.count, t), `${where} ${JSON.stringify(row.values)}`).toBe(true);
            else expect(row.count, `${where} ${JSON.stringify(row.values)}`).toBe(t);
          }
          for (let i = 1; i < rows.length; i++) expect(rows[i]!.count, `${where}: ranked`).toBeLessThanOrEqual(rows[i - 1]!.count);
        });
        if (r === 'answered') answered++;
      }
      expect(answered, 'several-dimension breakdowns answered at all').toBeGreaterThan(0);
    });

    it("ranks visits' entry and exit pages, before and under filters, like the truth", async () => {
      const site = data.sites[0]!;
      let answered = 0;
      for (const [which, filters] of [['entry', {}], ['exit', { device: 'mobile' }]] as ['entry' | 'exit', Filters][])
        for (const metric of ['pageviews', 'visitors', 'revenue'] as BreakdownQuery['metric'][]) {
          const where = `${which} pages by ${metric} ${JSON.stringify(filters)}`;
          const want = truthVisitPages(events, { site, from, to: from + DAY + 5 * 3_600_000, which, metric, filters });
          if (metric !== 'revenue') expect(want.length, `${where}: the truth has rows`).toBeGreaterThan(3);
          const r = await ask({ kind: 'breakdown', dimension: 'page', metric, filters, visitPage: which }, where, () => reader.breakdown({ site, from, to: from + DAY + 5 * 3_600_000, dimension: 'page', visitPage: which, metric, limit: 1_000, filters }), (rows) =>
            expectRanked(rows, want, 1_000, approximate.has(metric), where),
          );
          if (r === 'answered') answered++;
        }
      // A store declaring it refuses them all (speed keeps no pages per visit) answers none.
      if (!options.refuses?.({ kind: 'breakdown', dimension: 'page', metric: 'pageviews', filters: {}, visitPage: 'entry' })) expect(answered, 'entry and exit pages answered at all').toBeGreaterThan(0);
    });

    it("filters by a visit's entry or exit page (every operator, with other filters) in totals, series and breakdowns like the truth", async () => {
      const site = data.sites[0]!;
      const to2 = from + DAY + 5 * 3_600_000;
      const entries = truthVisitPages(events, { site, from, to: to2, which: 'entry', metric: 'pageviews' }).map((r) => r.value);
      expect(entries.length, 'visits enter on several pages').toBeGreaterThan(3);
      const cases: { filters: Filters; conditions: FilterCondition[] }[] = [
        { filters: {}, conditions: [{ op: 'is', dimension: 'entry_page', values: entries.slice(0, 2) }] },
        { filters: { device: 'desktop' }, conditions: [{ op: 'is_not', dimension: 'entry_page', values: [entries[0]!] }] },
        { filters: {}, conditions: [{ op: 'contains', dimension: 'exit_page', values: ['/docs', '/blog'] }, { op: 'is_not', dimension: 'country', values: ['US'] }] },
        { filters: {}, conditions: [{ op: 'contains_not', dimension: 'exit_page', values: ['/products/'] }, { op: 'is', dimension: 'entry_page', values: entries.slice(0, 3) }] },
      ];
      let answered = 0;
      for (const { filters, conditions } of cases) {
        const label = `${JSON.stringify(filters)} ${conditions.map((c) => `${c.dimension} ${c.op} ${c.values.join('|')}`).join(' & ')}`;
        const all = truthTotals(events, { site, from, to: to2 });
        const want = truthTotals(events, { site, from, to: to2, filters, conditions });
        expect(want.pageviews, `${label}: selects page views`).toBeGreaterThan(0);
        expect(want.pageviews, `${label}: leaves page views out`).toBeLessThan(all.pageviews);
        const metrics: Metric[] = ['pageviews', 'events', 'purchases', 'revenue', 'visitors', 'sessions'];
        const r = await ask({ kind: 'totals', metrics, filters, conditions }, `totals ${label}`, () => reader.totals({ site, from, to: to2, metrics, filters, conditions }), (v) => expectValues(v, want, metrics, `totals ${label}`));
        if (r === 'answered') answered++;
        await ask({ kind: 'series', metrics: ['pageviews', 'visitors'], filters, conditions }, `series ${label}`, () => reader.series({ site, from, to: to2, grain: 'hour', metrics: ['pageviews', 'visitors'], filters, conditions }), (points) => {
          const truth = truthSeries(events, { site, from, to: to2, grain: 'hour', filters, conditions });
          expect(points.map((p) => p.start)).toEqual([...truth.keys()]);
          for (const p of points) expectValues(p.values, truth.get(p.start)!, ['pageviews', 'visitors'], `series ${label} ${new Date(p.start).toISOString()}`);
        });
        await ask({ kind: 'breakdown', dimension: 'country', metric: 'pageviews', filters, conditions }, `country ${label}`, () => reader.breakdown({ site, from, to: to2, dimension: 'country', metric: 'pageviews', limit: 1_000, filters, conditions }), (rows) => expectRanked(rows, truthBreakdown(events, { site, from, to: to2, dimension: 'country', metric: 'pageviews', filters, conditions }), 1_000, false, `country ${label}`));
      }
      if (!options.refuses?.({ kind: 'totals', metrics: ['pageviews'], filters: {}, conditions: cases[0]!.conditions })) expect(answered, 'entry and exit page filters answered at all').toBeGreaterThan(0);
    });

    it('answers totals over whole days and over ranges not aligned to hours, uniques over the whole range', async () => {
      const ranges: [number, number][] = [[from, to], [from + 5 * 3_600_000 + 17 * 60_000, from + DAY + 3 * 3_600_000]];
      for (const site of data.sites)
        for (const [a, z] of ranges) expectValues(await reader.totals({ site, from: a, to: z, metrics: [...METRICS] }), truthTotals(events, { site, from: a, to: z }), METRICS, `${site} totals ${new Date(a).toISOString()}`);
      const site = data.sites[1]!;
      const [a, z] = ranges[1]!;
      for (const filters of FILTERS)
        for (const metrics of metricGroups(filters)) {
          const where = `totals ${JSON.stringify(filters)} [${metrics}]`;
          await ask({ kind: 'totals', metrics, filters }, where, () => reader.totals({ site, from: a, to: z, metrics, filters }), (v) => expectValues(v, truthTotals(events, { site, from: a, to: z, filters }), metrics, where));
        }
    });

    it('answers breakdowns of every dimension ranked by every metric, over one day and over two', async () => {
      const site = data.sites[0]!;
      for (const [a, z] of [[from, from + DAY], [from, to]] as [number, number][])
        for (const dimension of DIMENSIONS)
          for (const metric of BREAKDOWN_METRICS) {
            const want = truthBreakdown(events, { site, from: a, to: z, dimension, metric });
            const approx = approximate.has(metric);
            // Every row over both ranges; the top-k cut (ties at its edge may differ) over the longer one.
            for (const limit of z - a === DAY ? [1_000] : [5, 1_000]) {
              const where = `${(z - a) / DAY}-day breakdown ${dimension} by ${metric} limit ${limit}`;
              await ask({ kind: 'breakdown', dimension, metric, filters: {} }, where, () => reader.breakdown({ site, from: a, to: z, dimension, metric, limit }), (rows) => expectRanked(rows, want, limit, approx, where));
            }
          }
      for (const filters of [{ device: '(unknown)' }, { utm_source: '(none)', country: 'US' }] as Filters[])
        for (const dimension of ['country', 'browser', 'page'] as Dimension[]) {
          const where = `breakdown ${dimension} by pageviews ${JSON.stringify(filters)}`;
          const want = truthBreakdown(events, { site, from, to, dimension, metric: 'pageviews', filters });
          await ask({ kind: 'breakdown', dimension, metric: 'pageviews', filters }, where, () => reader.breakdown({ site, from, to, dimension, metric: 'pageviews', limit: 1_000, filters }), (rows) => expectRanked(rows, want, 1_000, false, where));
        }
    });

    it('breaks down by a custom property (the plan the traffic gives of custom events; every other event (none)) and filters by one, like the truth', async () => {
      const site = data.sites[0]!;
      const plan: AnyDimension = `prop:${CONTRACT_PROPERTY}`;
      let answered = 0;
      for (const metric of BREAKDOWN_METRICS) {
        const want = truthBreakdown(events, { site, from, to, dimension: plan, metric });
        if (metric === 'events') expect(want.map((r) => r.value).sort(), 'custom events carry both plans').toEqual(['free', 'pro']);
        if (metric === 'pageviews') expect(want.map((r) => r.value), 'page views carry no plan').toEqual(['(none)']);
        const where = `breakdown ${plan} by ${metric}`;
        if ((await ask({ kind: 'breakdown', dimension: plan, metric, filters: {} }, where, () => reader.breakdown({ site, from, to, dimension: plan, metric, limit: 1_000 }), (rows) => expectRanked(rows, want, 1_000, approximate.has(metric), where))) === 'answered') answered++;
      }
      expect(answered, 'property breakdowns answered at all').toBeGreaterThan(0);
      const conditions: FilterCondition[] = [{ op: 'contains', dimension: plan, values: ['ro'] }];
      const metrics: Metric[] = ['pageviews', 'events', 'purchases', 'revenue'];
      await ask({ kind: 'totals', metrics, filters: {}, conditions }, `totals under ${plan} contains ro`, () => reader.totals({ site, from, to, metrics, conditions }), (v) => expectValues(v, truthTotals(events, { site, from, to, conditions }), metrics, `totals under ${plan} contains ro`));
      const byCountry = truthMultiBreakdown(events, { site, from, to, dimensions: [plan, 'country'], metric: 'events' });
      await ask({ kind: 'breakdown', dimension: plan, dimensions: [plan, 'country'], metric: 'events', filters: {} }, `${plan} × country`, () => reader.breakdown({ site, from, to, dimension: plan, dimensions: [plan, 'country'], metric: 'events', limit: 1_000 }), (rows) => {
        expect(rows.length).toBe(byCountry.length);
        const truth = new Map(byCountry.map((w) => [JSON.stringify(w.values), w.count]));
        for (const r of rows) expect(r.count, `${plan} × country ${r.value}`).toBe(truth.get(r.value));
      });
    });

    it('sums revenue in the reporting currency only, and each currency apart in the currency breakdown (contract 10)', async () => {
      const site = data.sites[0]!;
      const purchases = events.filter((e) => e.site_id === site && e.type === 'purchase' && !e.is_bot && e.event_time >= from && e.event_time < to);
      const inEur = purchases.filter((e) => e.currency === 'EUR').length;
      expect(inEur > 0 && inEur < purchases.length, 'the data mixes EUR and USD purchases').toBe(true);
      const all = purchases.reduce((n, e) => n + (e.revenue_micros ?? 0), 0);
      const sums: number[] = [];
      for (const currency of ['EUR', 'USD']) {
        const want = truthTotals(events, { site, from, to, currency });
        const got = await reader.totals({ site, from, to, metrics: ['purchases', 'revenue'], currency });
        expect(got, `${currency} totals`).toEqual({ purchases: want.purchases, revenue: want.revenue });
        sums.push(got.revenue!);
        const series = truthSeries(events, { site, grain: 'hour', from, to, currency });
        const points = await reader.series({ site, grain: 'hour', from, to, metrics: ['revenue'], currency });
        expect(points.map((p) => [p.start, p.values.revenue]), `${currency} hourly revenue`).toEqual([...series].map(([start, v]) => [start, v.revenue]));
        const where = `${currency}: breakdown country by revenue`;
        await ask({ kind: 'breakdown', dimension: 'country', metric: 'revenue', filters: {} }, where, () => reader.breakdown({ site, from, to, dimension: 'country', metric: 'revenue', limit: 1_000, currency }), (rows) =>
          expectRanked(rows, truthBreakdown(events, { site, from, to, dimension: 'country', metric: 'revenue', currency }), 1_000, false, where),
        );
        // Whatever the reporting currency, the currency breakdown gives each currency its own sum.
        const byCurrency = await reader.breakdown({ site, from, to, dimension: 'currency', metric: 'revenue', limit: 10, currency });
        expect(byCurrency.sort((a, b) => (a.value < b.value ? -1 : 1)), `${currency}: breakdown by currency`).toEqual(
          ['EUR', 'USD'].map((c) => ({ value: c, count: truthTotals(events, { site, from, to, currency: c }).revenue })),
        );
      }
      expect(sums[0]! + sums[1]!, 'EUR and USD revenue add up to every purchase, each counted once').toBe(all);
      expect(Math.max(...sums), 'nothing is summed across currencies').toBeLessThan(all);
    });

    it("counts the server's visits: across midnight once, split after 31 idle minutes, two tabs as one", async () => {
      const site = VISITS_SITE;
      const metrics: Metric[] = ['sessions', 'bounce_rate', 'visit_duration', 'visitors', 'pageviews'];
      const total = truthTotals(events, { site, from, to });
      // The truth itself is held to the shapes, so a truth that ignored the rule fails here.
      expect(total.sessions, 'visits in the truth').toBe(4);
      expectValues(await reader.totals({ site, from, to, metrics }), total, metrics, 'visits totals over both days');
      const days = truthSeries(events, { site, grain: 'day', from, to });
      expect([...days.values()].map((v) => v.sessions), 'visits per day in the truth').toEqual([3, 2]);
      for (const grain of ['hour', 'day'] as Grain[]) {
        const truth = truthSeries(events, { site, grain, from, to });
        for (const p of await reader.series({ site, grain, from, to, metrics })) expectValues(p.values, truth.get(p.start)!, metrics, `visits ${grain} ${new Date(p.start).toISOString()}`);
      }
    });

    it('names a missing value by its contract label, as one row', async () => {
      const site = data.sites[0]!;
      const labels: [Dimension, string][] = [['country', '(unknown)'], ['device', '(unknown)'], ['browser', '(unknown)'], ['os', '(unknown)'], ['referrer', '(direct)'], ['utm_source', '(none)']];
      for (const [dimension, label] of labels) {
        const want = truthBreakdown(events, { site, from, to, dimension, metric: 'pageviews' }).find((r) => r.value === label);
        expect(want, `the data holds a missing ${dimension}`).toBeDefined();
        const rows = await reader.breakdown({ site, from, to, dimension, metric: 'pageviews', limit: 1_000 });
        expect(rows.filter((r) => r.value === label), `${dimension} ${label}`).toEqual([want]);
        expect(rows.filter((r) => r.value === 'unknown' || r.value === '' || (r.value.startsWith('(') && r.value !== label)), `${dimension}: no other spelling of missing`).toEqual([]);
      }
    });
  });
}
