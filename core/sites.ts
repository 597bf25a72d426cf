/**
 * The sites Twinlane collects for (SITES_FILE): per site an id, a write key (collector), a
 * read key (serving API), the browser origins allowed to send events, the reporting currency and the time zone. Loaded once by the
 * entry points; a bad file stops the program with a message naming the problem.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isTimeZone } from './calendar.ts';
import { ConfigError } from './errors.ts';
import { DEFAULT_CURRENCY } from './views.ts';

/**
 * ISO 4217 codes a site may report revenue in: the ones this Node's Intl knows (Node 20+).
 * A site without `currency` reports in DEFAULT_CURRENCY (USD), so sites files from before
 * currencies existed keep working.
 */
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

/** Site ids end up in Kafka keys and Redis hash tags (`{site}`), so they stay plain. */
export const SITE_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const originPattern = z
  .string()
  .refine((s) => s === '*' || /^https?:\/\/(\*\.)?[a-z0-9.-]+(:(\d{1,5}|\*))?$/i.test(s), {
    message: 'expected "*", an origin such as https://shop.example, https://*.shop.example or http://localhost:*',
  });

/** A stored key: the SHA-256 of the key (keys are random tokens of 192 bits, so no slow hash is needed). */
export const KEY_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
const plainKey = z.string().min(8, 'expected at least 8 characters').max(200);
const keyHash = z.string().regex(KEY_HASH_PATTERN, 'expected "sha256:" and 64 lower-case hex digits (twinlane sites writes it)');

/** A segment's name: shown in the dashboard and given as `segment=`. */
export const SEGMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;
const segmentSchema = z.strictObject({
  name: z.string().regex(SEGMENT_NAME_PATTERN, 'expected letters, digits, spaces, _ . - (at most 64, starting with a letter or digit)'),
  filters: z.array(z.tuple([z.string().max(40), z.string().max(80), z.union([z.string().max(1_024), z.array(z.string().max(1_024)).min(1).max(50)])])).min(1).max(20),
});

/**
 * A goal: a page path (exact, or with `*` for any run of characters) or a custom event's name.
 * A pattern of wildcards and slashes alone would match every page, so it is refused.
 */
export const GOAL_NAME_PATTERN = SEGMENT_NAME_PATTERN;
export const GOAL_PAGE_PATTERN = /^\/[^\s'"`;<>\\{}]{0,1023}$/;
export const GOAL_EVENT_PATTERN = /^[A-Za-z0-9 _.:-]{1,64}$/;
const goalSchema = z
  .strictObject({
    name: z.string().regex(GOAL_NAME_PATTERN, 'expected letters, digits, spaces, _ . - (at most 64, starting with a letter or digit)'),
    page: z.string().regex(GOAL_PAGE_PATTERN, 'expected a URL path starting with / (no spaces or quotes), * for any run of characters').refine((p) => /[^/*]/.test(p) || !p.includes('*'), 'a wildcard that matches every page').optional(),
    event: z.string().regex(GOAL_EVENT_PATTERN, 'expected a custom event name (letters, digits, spaces, _ . : -)').optional(),
  })
  .refine((g) => (g.page === undefined) !== (g.event === undefined), 'expected exactly one of page and event');

export type Goal = z.output<typeof goalSchema>;

/**
 * A custom property key a site breaks down by (`event:props:<key>`): the collector's property names
 * (1 to 100 characters), printable, no quotes, backslashes or braces, so a key reads the same in a
 * URL, SQL and a Redis key name. Only listed keys are asked for and kept by the speed store, which
 * bounds its keys per site and minute.
 */
export const PROPERTY_KEY_PATTERN = /^[^\p{Cc}'"`\\{}]{1,100}$/u;
/** Most custom property keys one site lists. */
export const MAX_SITE_PROPERTIES = 20;
/** A saved segment: a name and the filter clauses it stands for. */
export type Segment = z.output<typeof segmentSchema>;

const siteSchema = z.strictObject({
  id: z.string().regex(SITE_ID_PATTERN, 'expected lower-case letters, digits, _ or - (at most 64)'),
  name: z.string().min(1).max(200).optional(),
  /** A key in plain text: development files only (the demo file, tests). Production files store the hash. */
  writeKey: plainKey.optional(),
  writeKeyHash: keyHash.optional(),
  readKey: plainKey.optional(),
  readKeyHash: keyHash.optional(),
  allowedOrigins: z.array(originPattern).default([]),
  /** Reporting currency: the `revenue` metric sums purchases in it only (contract 10). */
  currency: z.string().default(DEFAULT_CURRENCY),
  /** IANA time zone: hours, days, weeks, months, date ranges and W are the site's (contract 9). */
  timezone: z.string().default('UTC'),
  /**
   * Saved segments: named filter sets the API applies for `segment=<name>`. Their clauses are the
   * query endpoint's (`[operator, dimension, values]`); serving checks their values as a query's.
   */
  segments: z.array(segmentSchema).max(100).default([]),
  /** Goals: conversions and conversion rates are asked for by goal name (`event:goal`). */
  goals: z.array(goalSchema).max(50).default([]),
  /** Custom property keys offered as dimensions and filters (`event:props:<key>`); the speed store keeps these only. */
  properties: z.array(z.string().regex(PROPERTY_KEY_PATTERN, 'expected a property name of 1 to 100 printable characters (no quotes, backslashes or braces)')).max(MAX_SITE_PROPERTIES).default([]),
});

const sitesFileSchema = z.strictObject({ sites: z.array(siteSchema).min(1, 'expected at least one site') });

export type SiteConfig = z.output<typeof siteSchema>;

export interface Site extends SiteConfig {
  /** The stored hashes, also of keys the file holds in plain text. */
  writeKeyHash: string;
  readKeyHash: string;
  /** True when `origin` (the browser's Origin header) may send events for this site. */
  allowsOrigin(origin: string): boolean;
}

export type WriteAuth = { ok: true; site: Site } | { ok: false; reason: 'unknown-site' | 'wrong-key'; message: string };

/** The stored form of a key. */
export function hashKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** Whether `key` hashes to `stored`, compared in constant time. */
function matchesHash(key: string, stored: string): boolean {
  const given = createHash('sha256').update(key).digest();
  return timingSafeEqual(given, Buffer.from(stored.slice('sha256:'.length), 'hex'));
}

function originMatcher(patterns: readonly string[]): (origin: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const regexes = patterns.map((p) => {
    // Escape everything but '*', then give the two allowed wildcards their meaning.
    const escaped = p.toLowerCase().replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    const body = escaped.replace('://*\\.', '://([a-z0-9-]+\\.)+').replace(/:\*$/, '(:\\d{1,5})?');
    return new RegExp(`^${body}$`);
  });
  return (origin) => {
    const o = origin.toLowerCase();
    return regexes.some((r) => r.test(o));
  };
}

export class Sites {
  private byId = new Map<string, Site>();

  constructor(configs: readonly SiteConfig[]) {
    for (const c of configs) {
      const matches = originMatcher(c.allowedOrigins);
      this.byId.set(c.id, { ...c, writeKeyHash: c.writeKeyHash ?? hashKey(c.writeKey!), readKeyHash: c.readKeyHash ?? hashKey(c.readKey!), allowsOrigin: matches });
    }
  }

  /** Takes another file's sites in place, so every holder of this object sees them (a reload). */
  replace(next: Sites): void {
    this.byId = next.byId;
  }

  get(id: string): Site | undefined {
    return this.byId.get(id);
  }

  list(): Site[] {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  authorizeWrite(siteId: string | undefined, writeKey: string | undefined): WriteAuth {
    const site = siteId === undefined ? undefined : this.byId.get(siteId);
    if (!site) return { ok: false, reason: 'unknown-site', message: siteId ? `unknown site "${siteId}"` : 'no site given (query parameter site= or header x-twinlane-site)' };
    if (!writeKey || !matchesHash(writeKey, site.writeKeyHash)) {
      return { ok: false, reason: 'wrong-key', message: writeKey ? `wrong write key for site "${site.id}"` : `no write key given for site "${site.id}" (query parameter key= or header x-twinlane-key)` };
    }
    return { ok: true, site };
  }

  /** The serving API's check: is `readKey` the read key of `siteId`? */
  authorizeRead(siteId: string, readKey: string | undefined): boolean {
    const site = this.byId.get(siteId);
    return site !== undefined && readKey !== undefined && matchesHash(readKey, site.readKeyHash);
  }
}

/** Validates the parsed JSON of a sites file; `source` names it in errors. */
export function parseSites(json: unknown, source = 'sites file'): Sites {
  const result = sitesFileSchema.safeParse(json);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${source}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`));
  }
  const problems: string[] = [];
  const seen = { id: new Set<string>(), key: new Set<string>() };
  result.data.sites.forEach((s, i) => {
    if (seen.id.has(s.id)) problems.push(`${source}: sites.${i}.id: duplicate site id "${s.id}"`);
    seen.id.add(s.id);
    if (!isTimeZone(s.timezone)) problems.push(`${source}: sites.${i}.timezone: site "${s.id}": unknown time zone ${JSON.stringify(s.timezone.slice(0, 64))}, expected an IANA name such as Europe/Berlin or America/New_York`);
    const goals = new Set<string>();
    for (const g of s.goals) {
      if (goals.has(g.name)) problems.push(`${source}: sites.${i}.goals: site "${s.id}": duplicate goal name "${g.name}"`);
      goals.add(g.name);
    }
    if (new Set(s.properties).size !== s.properties.length) problems.push(`${source}: sites.${i}.properties: site "${s.id}": a property key is listed twice`);
    const names = new Set<string>();
    for (const g of s.segments) {
      if (names.has(g.name)) problems.push(`${source}: sites.${i}.segments: site "${s.id}": duplicate segment name "${g.name}"`);
      names.add(g.name);
    }
    if (!CURRENCIES.has(s.currency)) problems.push(`${source}: sites.${i}.currency: site "${s.id}": unknown currency ${JSON.stringify(s.currency)}, expected an ISO 4217 code such as USD or EUR`);
    for (const role of ['write', 'read'] as const) {
      const plain = s[`${role}Key`];
      const hashed = s[`${role}KeyHash`];
      if ((plain === undefined) === (hashed === undefined)) {
        problems.push(`${source}: sites.${i}: site "${s.id}": expected exactly one of ${role}Key (plain, development only) and ${role}KeyHash`);
        continue;
      }
      const h = hashed ?? hashKey(plain!);
      if (seen.key.has(h)) problems.push(`${source}: sites.${i}.${role}Key: key already used by another site or role`);
      seen.key.add(h);
    }
  });
  if (problems.length) throw new ConfigError(problems);
  return new Sites(result.data.sites);
}

/** Reads and validates SITES_FILE; throws ConfigError naming the file and the problem. */
export function loadSites(file: string): Sites {
  return parseSites(readSitesJson(file), `SITES_FILE=${JSON.stringify(file)}`);
}

/** The parsed JSON of a sites file, not yet validated; throws ConfigError when it cannot be read or parsed. */
export function readSitesJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`SITES_FILE=${JSON.stringify(file)}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`SITES_FILE=${JSON.stringify(file)}: not valid JSON (${(err as Error).message})`]);
  }
  return json;
}

/** The sites file shipped with the code: its keys are published, for development and tests only. */
export const DEMO_SITES_FILE = fileURLToPath(new URL('../config/sites.json', import.meta.url));

/** Sites of `sites` whose write or read key is one of the published demo keys. */
export function sitesWithDemoKeys(sites: Sites, demoFile = DEMO_SITES_FILE): string[] {
  let demo: Sites;
  try {
    demo = loadSites(demoFile);
  } catch {
    return [];
  }
  const published = new Set(demo.list().flatMap((s) => [s.writeKeyHash, s.readKeyHash]));
  return sites.list().filter((s) => published.has(s.writeKeyHash) || published.has(s.readKeyHash)).map((s) => s.id);
}

/** Whether `host` is a loopback listen address (only this machine can connect). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Refuses to serve the published demo keys beyond loopback: anyone could send and read with them.
 * `allow` (ALLOW_DEMO_KEYS) is for a local trial that must bind every interface (a container).
 */
export function refuseDemoKeysInPublic(role: string, host: string, sites: Sites, allow: boolean, demoFile = DEMO_SITES_FILE): void {
  if (allow || isLoopbackHost(host)) return;
  const demo = sitesWithDemoKeys(sites, demoFile);
  if (demo.length === 0) return;
  throw new ConfigError([
    `${role} would listen on ${host} with the published demo keys of ${demoFile} (sites ${demo.join(', ')}): anyone could send and read with them. Give SITES_FILE your own sites file with new keys, or listen on 127.0.0.1 (ALLOW_DEMO_KEYS=true only for a local trial)`,
  ]);
}

/**
 * A site's keys in plain text, for tools that send or read as the site (the load generator, `make
 * pipeline`, tests); a production file holds only hashes, and then `purpose` is named in the error.
 */
export function plainKeys(site: SiteConfig, purpose: string): { writeKey: string; readKey: string } {
  if (site.writeKey === undefined || site.readKey === undefined) {
    throw new ConfigError([`site "${site.id}" stores its keys hashed (writeKeyHash/readKeyHash); ${purpose} needs them in plain text: use a development sites file or pass the key`]);
  }
  return { writeKey: site.writeKey, readKey: site.readKey };
}
