/**
 * Turns a validated event into the stored record: ids and defaults, URL parts and UTM tags,
 * device/browser/OS/bot from the user agent, country from the IP (offline database of the
 * geoip-country package), the IP replaced by a salted hash, and PII redacted.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import geoip from 'geoip-country';
import type { TwinlaneEvent } from '../schemas/index.ts';
import type { EventTime } from './clock-skew.policy.ts';
import type { EventInput } from './event.validator.ts';
import type { IpHasher } from './ip.hasher.ts';
import { redactNullable, redactPii } from '../core/pii.redactor.ts';
import type { UserAgentParser } from './user-agent.parser.ts';

/** Normalises an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) and drops what is not an IP. */
export function normaliseIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return isIP(v4) ? v4 : undefined;
}

export function countryOf(ip: string | undefined): string | null {
  if (!ip) return null;
  return geoip.lookup(ip)?.country || null;
}

function hostOf(url: string | null): string | null {
  if (url === null) return null;
  try {
    return new URL(url).hostname || null;
  } catch {
    return null;
  }
}

export interface EnrichContext {
  siteId: string;
  /** The site's IANA time zone: the cookieless visitor id changes at its local midnight. */
  zone?: string;
  ip?: string;
  userAgent?: string;
  receivedAt: number;
}

export class EventEnricher {
  constructor(private readonly deps: { userAgents: UserAgentParser; ipHasher: IpHasher }) {}

  /** Loads what enriching an event of a site in `zone` needs first (the hashing salts); undefined when nothing is missing. */
  prepare(zone?: string): Promise<void> | undefined {
    return this.deps.ipHasher.prepare(zone);
  }

  /** The last client address seen, normalised, and its country: a request's events share it. */
  private lastClient: { raw: string | undefined; ip: string | undefined; country: string | null } = { raw: undefined, ip: undefined, country: null };

  enrich(input: EventInput, time: EventTime, ctx: EnrichContext): TwinlaneEvent {
    let client = this.lastClient;
    if (client.raw !== ctx.ip) {
      const normalised = normaliseIp(ctx.ip);
      client = this.lastClient = { raw: ctx.ip, ip: normalised, country: countryOf(normalised) };
    }
    const ip = client.ip;
    const ua = this.deps.userAgents.parse(ctx.userAgent);
    const urlText = redactPii(input.url);
    const url = new URL(urlText);
    const q = url.searchParams;
    const visitor = input.visitor ?? this.deps.ipHasher.visitorId(ctx.siteId, ip, ctx.userAgent, ctx.zone);
    const referrer = redactNullable(input.referrer);
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.props)) properties[k] = redactPii(v);
    return {
      event_id: input.id ?? randomUUID(),
      site_id: ctx.siteId,
      type: input.type,
      name: input.name,
      event_time: time.eventTime,
      received_time: ctx.receivedAt,
      visitor_id: visitor,
      session_id: input.session ?? visitor,
      url: urlText,
      path: url.pathname,
      hostname: url.hostname,
      referrer,
      referrer_host: hostOf(referrer),
      title: redactNullable(input.title),
      utm_source: q.get('utm_source'),
      utm_medium: q.get('utm_medium'),
      utm_campaign: q.get('utm_campaign'),
      utm_term: q.get('utm_term'),
      utm_content: q.get('utm_content'),
      country: client.country,
      device_type: ua.device_type,
      browser: ua.browser,
      os: ua.os,
      is_bot: ua.is_bot,
      ip_hash: this.deps.ipHasher.hashIp(ctx.siteId, ip),
      time_adjusted: time.adjusted,
      properties,
      revenue_micros: input.revenueMicros,
      currency: input.currency,
      screen_width: input.screenWidth,
    };
  }
}
