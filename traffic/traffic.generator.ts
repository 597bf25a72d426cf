/**
 * Seeded, realistic traffic: several sites, Zipf-distributed pages, visitor sessions,
 * referrers and UTM tags, countries, devices, bots, custom events and purchases.
 * The same options always give the same events, so tests and benchmarks can compare the
 * pipeline's numbers with a ground truth computed from this stream.
 */
import type { TwinlaneEvent } from '../schemas/index.ts';

export interface TrafficOptions {
  seed: number;
  sites: string[];
  /** Event-time range [from, to) in epoch ms. */
  from: number;
  to: number;
  /** Approximate number of events (sessions are generated until it is reached). */
  events: number;
  visitorsPerSite?: number;
  pagesPerSite?: number;
  botFraction?: number;
  /** Received time = event time + this delay (ms). */
  receiveDelayMs?: number;
}

/** mulberry32: tiny, fast, seedable; enough for synthetic traffic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf(s=1.1) sampler over ranks 0..n-1 by inverse CDF on a precomputed table. */
export function zipf(n: number, random: () => number, s = 1.1): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** s;
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export const COUNTRIES = ['US', 'DE', 'GB', 'FR', 'IN', 'BR', 'JP', 'CA', 'NL', 'ES', 'IT', 'PL', 'SE', 'AU', 'MX'];
/** [device_type, browser, os] as the collector's user-agent parser reports them. */
export const DEVICES: [string, string, string][] = [
  ['desktop', 'Chrome', 'Windows'],
  ['desktop', 'Firefox', 'Linux'],
  ['desktop', 'Safari', 'macOS'],
  ['desktop', 'Microsoft Edge', 'Windows'],
  ['mobile', 'Chrome', 'Android'],
  ['mobile', 'Safari', 'iOS'],
  ['tablet', 'Safari', 'iOS'],
  ['mobile', 'Samsung Internet for Android', 'Android'],
];
const REFERRERS: (string | null)[] = [null, null, null, 'https://www.google.com/', 'https://news.ycombinator.com/', 'https://twitter.com/', 'https://www.reddit.com/r/analytics/', 'https://duckduckgo.com/', 'https://github.com/'];
/** Source, medium, campaign, term and content of a landing page's link; null for untagged visits. */
const UTM: ([string, string, string, string | null, string | null] | null)[] = [
  null, null, null, null,
  ['newsletter', 'email', 'autumn', null, 'header link'],
  ['google', 'cpc', 'brand', 'web analytics', 'ad-1'],
  ['twitter', 'social', 'launch', null, null],
];

/** A landing page's query string of its UTM tags (`+` for spaces, as links are written). */
function utmQuery(utm: readonly (string | null)[]): string {
  const names = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'];
  return '?' + new URLSearchParams(utm.flatMap((v, i) => (v === null ? [] : [[names[i]!, v]]))).toString();
}
const CUSTOM_EVENTS = ['signup', 'download', 'play_video', 'add_to_cart', 'share'];
const SECTIONS = ['blog', 'docs', 'products', 'pricing', 'about', 'careers'];

function uuidFrom(random: () => number): string {
  const hex = (n: number) => Math.floor(random() * 16 ** n).toString(16).padStart(n, '0');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${(8 + Math.floor(random() * 4)).toString(16)}${hex(3)}-${hex(12)}`;
}

export function pagePath(rank: number): string {
  return rank === 0 ? '/' : `/${SECTIONS[rank % SECTIONS.length]}/${rank}`;
}

/** Yields events in roughly increasing event time, session by session. */
export function* generateTraffic(o: TrafficOptions): Generator<TwinlaneEvent> {
  const random = rng(o.seed);
  const visitorsPerSite = o.visitorsPerSite ?? 5_000;
  const pickPage = zipf(o.pagesPerSite ?? 200, random);
  const pickVisitor = zipf(visitorsPerSite, random, 0.7);
  const botFraction = o.botFraction ?? 0.03;
  const delay = o.receiveDelayMs ?? 0;
  const span = o.to - o.from;
  let emitted = 0;
  while (emitted < o.events) {
    const site = o.sites[Math.floor(random() * o.sites.length)]!;
    const visitorN = pickVisitor();
    const visitor = `v-${site}-${visitorN}`;
    const session = uuidFrom(random);
    const isBot = random() < botFraction;
    const [device, browser, os] = isBot ? ['bot', 'Googlebot', null] : DEVICES[visitorN % DEVICES.length]!;
    const country = COUNTRIES[(visitorN * 7) % COUNTRIES.length]!;
    const referrer = REFERRERS[Math.floor(random() * REFERRERS.length)]!;
    const utm = UTM[Math.floor(random() * UTM.length)]!;
    // Session starts follow the stream's progress, so the range is filled evenly and exactly `events` are emitted.
    let t = o.from + Math.floor(((emitted + random()) / o.events) * span);
    const pages = 1 + Math.floor(random() * random() * 8);
    for (let p = 0; p < pages && emitted < o.events; p++) {
      if (t >= o.to) t = o.to - 1 - Math.floor(random() * 1000);
      const path = pagePath(pickPage());
      const roll = random();
      const type: TwinlaneEvent['type'] = p === 0 || roll < 0.8 || isBot ? 'pageview' : roll < 0.95 ? 'custom' : 'purchase';
      const name = type === 'pageview' ? 'pageview' : type === 'purchase' ? 'purchase' : CUSTOM_EVENTS[Math.floor(random() * CUSTOM_EVENTS.length)]!;
      const revenue = type === 'purchase' ? (1 + Math.floor(random() * 20_000)) * 10_000 : null; // whole cents, in micros
      emitted++;
      yield {
        event_id: uuidFrom(random),
        site_id: site,
        type,
        name,
        event_time: t,
        received_time: t + delay,
        visitor_id: visitor,
        session_id: session,
        url: `https://${site}.example${path}${utm && p === 0 ? utmQuery(utm) : ''}`,
        path,
        hostname: `${site}.example`,
        referrer: p === 0 ? referrer : null,
        referrer_host: p === 0 && referrer ? new URL(referrer).hostname : null,
        title: `Page ${path}`,
        utm_source: p === 0 && utm ? utm[0] : null,
        utm_medium: p === 0 && utm ? utm[1] : null,
        utm_campaign: p === 0 && utm ? utm[2] : null,
        utm_term: p === 0 && utm ? utm[3] : null,
        utm_content: p === 0 && utm ? utm[4] : null,
        country,
        device_type: device,
        browser,
        os,
        is_bot: isBot,
        ip_hash: null,
        time_adjusted: false,
        properties: type === 'custom' ? { plan: random() < 0.5 ? 'free' : 'pro' } : {},
        revenue_micros: revenue,
        // EUR and USD mixed on every site (contract 10's case), from the amount: the random stream is unchanged.
        currency: revenue === null ? null : (revenue / 10_000) % 2 === 0 ? 'USD' : 'EUR',
        screen_width: device === 'mobile' ? 390 : device === 'tablet' ? 820 : 1440,
      };
      t += 5_000 + Math.floor(random() * 115_000);
    }
  }
}
