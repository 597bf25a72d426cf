/**
 * Generated events as a client sends them: the collector's JSON, plus a user agent and a
 * client IP that the collector enriches back to exactly the generated device, browser, OS,
 * bot flag and country. And malformed variants, each with the dead-letter code it must get.
 */
import type { TwinlaneEvent } from '../schemas/index.ts';
import type { DeadLetterCode } from '../dlq/index.ts';
import { COUNTRIES, DEVICES } from './traffic.generator.ts';

/** Keyed by `device|browser|os`, one real user-agent string each. */
export const USER_AGENTS: Record<string, string> = {
  'desktop|Chrome|Windows': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'desktop|Firefox|Linux': 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'desktop|Safari|macOS': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'desktop|Microsoft Edge|Windows': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
  'mobile|Chrome|Android': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
  'mobile|Safari|iOS': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'tablet|Safari|iOS': 'Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'mobile|Samsung Internet for Android|Android': 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
  'bot|Googlebot|': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
};

/** One address per generated country, from a /24 the bundled geoip database maps wholly to it. */
export const COUNTRY_IPS: Record<string, string> = {
  US: '146.78.161.249', JP: '158.211.189.85', BR: '177.49.148.59', GB: '25.120.187.92', DE: '217.119.192.57',
  NL: '145.102.205.172', PL: '79.96.62.83', IN: '103.93.178.157', FR: '129.88.111.109', IT: '217.202.184.209',
  ES: '85.56.185.15', CA: '205.200.90.241', MX: '200.188.133.41', AU: '1.121.126.10', SE: '193.235.171.63',
};

// Every generated device and country has its counterpart (checked once, at load).
for (const [d, b, o] of DEVICES) if (!USER_AGENTS[`${d}|${b}|${o}`]) throw new Error(`no user agent for ${d}|${b}|${o}`);
for (const c of COUNTRIES) if (!COUNTRY_IPS[c]) throw new Error(`no IP for country ${c}`);

export interface ClientContext {
  userAgent: string;
  ip: string;
}

export function clientContext(e: Pick<TwinlaneEvent, 'device_type' | 'browser' | 'os' | 'country'>): ClientContext {
  const userAgent = USER_AGENTS[`${e.device_type}|${e.browser ?? ''}|${e.os ?? ''}`];
  const ip = e.country === null ? undefined : COUNTRY_IPS[e.country];
  if (!userAgent || !ip) throw new Error(`no client for ${e.device_type}/${e.browser}/${e.os}/${e.country}`);
  return { userAgent, ip };
}

/** The collector JSON of a generated event (the public event API, see ingest/README.md). */
export function toCollectorJson(e: TwinlaneEvent): Record<string, unknown> {
  const json: Record<string, unknown> = { id: e.event_id, type: e.type };
  if (e.type === 'custom') json.name = e.name;
  json.ts = e.event_time;
  json.visitor = e.visitor_id;
  json.session = e.session_id;
  json.url = e.url;
  if (e.referrer !== null) json.referrer = e.referrer;
  if (e.title !== null) json.title = e.title;
  if (Object.keys(e.properties).length > 0) json.props = e.properties;
  if (e.revenue_micros !== null) json.revenue = e.revenue_micros / 1_000_000;
  if (e.currency !== null) json.currency = e.currency;
  if (e.screen_width !== null) json.screen_width = e.screen_width;
  return json;
}

export interface Malformation {
  kind: string;
  code: DeadLetterCode;
  field: string;
  /** The element's JSON text. */
  make(json: Record<string, unknown>): string;
}

export const MALFORMATIONS: readonly Malformation[] = [
  { kind: 'missing-url', code: 'SCHEMA_VIOLATION', field: 'url', make: ({ url: _url, ...rest }) => JSON.stringify(rest) },
  { kind: 'wrong-type', code: 'SCHEMA_VIOLATION', field: 'screen_width', make: (j) => JSON.stringify({ ...j, screen_width: '1440' }) },
  { kind: 'unknown-field', code: 'SCHEMA_VIOLATION', field: 'colour', make: (j) => JSON.stringify({ ...j, colour: 'blue' }) },
  { kind: 'nul-in-title', code: 'SCHEMA_VIOLATION', field: 'title', make: (j) => JSON.stringify({ ...j, title: 'a\u0000b' }) },
  { kind: 'unknown-type', code: 'SCHEMA_VIOLATION', field: 'type', make: (j) => JSON.stringify({ ...j, type: 'click' }) },
  { kind: 'not-an-object', code: 'SCHEMA_VIOLATION', field: '(root)', make: () => JSON.stringify('pageview') },
  { kind: 'oversized-title', code: 'SIZE_VIOLATION', field: 'title', make: (j) => JSON.stringify({ ...j, title: 'x'.repeat(1001) }) },
];
