/**
 * Editing a sites file (`twinlane sites`): new sites and new keys are random tokens stored only as
 * their SHA-256; the tool prints a key once and never again. Every edit is validated as the
 * services will load it, then written atomically (a service reloading meanwhile reads the old
 * file or the new one, never half of one). Fields the tool does not manage are kept as they are.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from './durable-fs.ts';
import { UsageError } from './errors.ts';
import { DEMO_SITES_FILE, hashKey, parseSites, readSitesJson, type Goal, type Segment, type Site, type Sites } from './sites.ts';

export type KeyRole = 'write' | 'read';

/** The lists of a site whose items are unique by name, and what one item is called. */
const NAMED = { goals: 'goal', segments: 'segment' } as const;
type NamedList = keyof typeof NAMED;

export interface NewSite {
  id: string;
  name?: string;
  allowedOrigins?: string[];
  currency?: string;
  timezone?: string;
}

/** Keys just made, in plain text: shown once. */
export interface IssuedKeys {
  site: string;
  writeKey?: string;
  readKey?: string;
}

/** What `sites list` shows of a site: never a key, only whether the file holds it hashed. */
export interface SiteSummary {
  id: string;
  name: string | null;
  currency: string;
  timezone: string;
  allowedOrigins: string[];
  keys: 'hashed' | 'plain' | 'mixed';
}

type RawSite = Record<string, unknown> & { id: string };

/** A new key: a role prefix and 192 random bits. */
export function newKey(role: KeyRole): string {
  return `${role === 'write' ? 'wk' : 'rk'}_${randomBytes(24).toString('base64url')}`;
}

export class SitesFile {
  constructor(readonly path: string) {}

  /** The sites file shipped with the code is published: refuse to put real keys into it. */
  private checkWritable(): void {
    const demo = realpathSync(DEMO_SITES_FILE);
    const target = existsSync(this.path) ? realpathSync(this.path) : resolve(this.path);
    if (target === demo) throw new UsageError('DEMO_SITES_FILE', `${this.path} is the published demo sites file; give SITES_FILE (or --file) a file of your own, for example /etc/twinlane/sites.json`);
  }

  /** The file's sites as written and as validated; a broken file is reported (ConfigError naming the problem), never rewritten blindly. */
  private read(): { raw: RawSite[]; sites: Sites | null } {
    if (!existsSync(this.path)) return { raw: [], sites: null };
    const json = readSitesJson(this.path);
    const sites = parseSites(json, this.path);
    return { raw: (json as { sites: RawSite[] }).sites, sites };
  }

  private write(sites: RawSite[]): void {
    if (sites.length === 0) throw new UsageError('LAST_SITE', `${this.path} would hold no site: a sites file needs at least one (add another first)`);
    const json = { sites };
    parseSites(json, this.path);
    writeFileAtomic(this.path, JSON.stringify(json, null, 2) + '\n');
    chmodSync(this.path, 0o600);
  }

  private find(sites: RawSite[], id: string): RawSite {
    const s = sites.find((x) => x.id === id);
    if (!s) throw new UsageError('UNKNOWN_SITE', `site "${id}" is not in ${this.path} (known: ${sites.map((x) => x.id).join(', ') || 'none'})`);
    return s;
  }

  list(): SiteSummary[] {
    return (this.read().sites?.list() ?? []).map((s) => {
      const hashed = [s.writeKey === undefined, s.readKey === undefined];
      return { id: s.id, name: s.name ?? null, currency: s.currency, timezone: s.timezone, allowedOrigins: s.allowedOrigins, keys: hashed.every(Boolean) ? 'hashed' : hashed.some(Boolean) ? 'mixed' : 'plain' };
    });
  }

  /** Adds a site with new keys (creating the file when there is none). */
  add(site: NewSite): IssuedKeys {
    this.checkWritable();
    const sites = this.read().raw;
    if (sites.some((s) => s.id === site.id)) throw new UsageError('SITE_EXISTS', `site "${site.id}" is already in ${this.path}; rotate-key gives it new keys`);
    const writeKey = newKey('write');
    const readKey = newKey('read');
    const raw: RawSite = { id: site.id };
    if (site.name !== undefined) raw.name = site.name;
    raw.writeKeyHash = hashKey(writeKey);
    raw.readKeyHash = hashKey(readKey);
    if (site.allowedOrigins?.length) raw.allowedOrigins = site.allowedOrigins;
    if (site.currency !== undefined) raw.currency = site.currency;
    if (site.timezone !== undefined) raw.timezone = site.timezone;
    this.write([...sites, raw]);
    return { site: site.id, writeKey, readKey };
  }

  /** New keys for the roles given; the old ones stop working as soon as the services reload. */
  rotateKey(id: string, roles: readonly KeyRole[]): IssuedKeys {
    this.checkWritable();
    const sites = this.read().raw;
    const site = this.find(sites, id);
    const out: IssuedKeys = { site: id };
    for (const role of roles) {
      const key = newKey(role);
      delete site[`${role}Key`];
      site[`${role}KeyHash`] = hashKey(key);
      out[`${role}Key`] = key;
    }
    this.write(sites);
    return out;
  }

  /** A site's goals as the file holds them. */
  goals(id: string): Goal[] {
    return this.namedList(id, 'goals');
  }

  /** Adds a goal (a page path, `*` for any run of characters, or an event name); the file's checks apply (a wildcard matching every page is refused). */
  addGoal(id: string, goal: Goal): void {
    this.addNamed(id, 'goals', goal);
  }

  removeGoal(id: string, name: string): void {
    this.removeNamed(id, 'goals', name);
  }

  /** A site's saved segments as the file holds them. */
  segments(id: string): Segment[] {
    return this.namedList(id, 'segments');
  }

  /** Adds a saved segment (its clauses checked by the caller as a query takes them); the file's checks apply. */
  addSegment(id: string, segment: Segment): void {
    this.addNamed(id, 'segments', segment);
  }

  removeSegment(id: string, name: string): void {
    this.removeNamed(id, 'segments', name);
  }

  /** A site's listed custom property keys (`event:props:<key>`). */
  properties(id: string): string[] {
    return this.siteOf(id).properties;
  }

  /** Lists a custom property key; the file's checks apply (the key's shape, at most MAX_SITE_PROPERTIES). */
  addProperty(id: string, key: string): void {
    this.editList<string>(id, 'properties', (keys) => {
      if (keys.includes(key)) throw new UsageError('PROPERTY_EXISTS', `site "${id}" already lists the property "${key}"`);
      return [...keys, key];
    });
  }

  removeProperty(id: string, key: string): void {
    this.editList<string>(id, 'properties', (keys) => {
      if (!keys.includes(key)) throw new UsageError('UNKNOWN_PROPERTY', `site "${id}" lists no property "${key}" (its properties: ${keys.join(', ') || 'none'})`);
      return keys.filter((k) => k !== key);
    });
  }

  private siteOf(id: string): Site {
    const site = this.read().sites?.get(id);
    if (!site) throw new UsageError('UNKNOWN_SITE', `site "${id}" is not in ${this.path}`);
    return site;
  }

  private namedList<K extends NamedList>(id: string, list: K): Site[K] {
    return this.siteOf(id)[list];
  }

  /** One site's list (goals, segments, property keys) replaced by `edit`'s answer, the file written once; `edit` throws to refuse. */
  private editList<T>(id: string, list: NamedList | 'properties', edit: (items: T[]) => T[]): void {
    this.checkWritable();
    const sites = this.read().raw;
    const site = this.find(sites, id);
    site[list] = edit((site[list] as T[] | undefined) ?? []);
    this.write(sites);
  }

  /** Goals and segments alike: a list of items unique by name, one site's. */
  private addNamed(id: string, list: NamedList, item: { name: string }): void {
    const what = NAMED[list];
    this.editList<{ name: string }>(id, list, (items) => {
      if (items.some((g) => g.name === item.name)) throw new UsageError(`${what.toUpperCase()}_EXISTS`, `site "${id}" already has a ${what} "${item.name}"`);
      return [...items, item];
    });
  }

  private removeNamed(id: string, list: NamedList, name: string): void {
    const what = NAMED[list];
    this.editList<{ name: string }>(id, list, (items) => {
      if (!items.some((g) => g.name === name)) throw new UsageError(`UNKNOWN_${what.toUpperCase()}`, `site "${id}" has no ${what} "${name}" (its ${list}: ${items.map((g) => g.name).join(', ') || 'none'})`);
      return items.filter((g) => g.name !== name);
    });
  }

  remove(id: string): void {
    this.checkWritable();
    const sites = this.read().raw;
    this.find(sites, id);
    this.write(sites.filter((s) => s.id !== id));
  }
}
