import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { SitesFile } from './sites.file.ts';
import { DEMO_SITES_FILE, hashKey, loadSites, parseSites, plainKeys, refuseDemoKeysInPublic, sitesWithDemoKeys } from './sites.ts';

const site = (over: Record<string, unknown> = {}) => ({ id: 'shop', writeKey: 'wk_shop_12345678', readKey: 'rk_shop_12345678', allowedOrigins: ['https://shop.example'], ...over });

describe('sites', () => {
  it('loads the committed sample with three demo sites', () => {
    const sites = loadSites('config/sites.json');
    expect(sites.ids()).toEqual(['shop', 'blog', 'docs']);
    expect(sites.list().map((s) => s.currency)).toEqual(['EUR', 'USD', 'USD']);
  });

  it('gives each site a reporting currency, USD when the file names none, and stops on an unknown one naming site, field and value', () => {
    expect(parseSites({ sites: [site()] }).get('shop')!.currency).toBe('USD');
    expect(parseSites({ sites: [site({ currency: 'EUR' })] }).get('shop')!.currency).toBe('EUR');
    expect(() => parseSites({ sites: [site({ currency: 'XYZ' })] }, 'f.json')).toThrowError(/f\.json: sites\.0\.currency: site "shop": unknown currency "XYZ"/);
    expect(() => parseSites({ sites: [site({ currency: 'eur' })] }, 'f.json')).toThrowError(/sites\.0\.currency: site "shop": unknown currency "eur"/);
  });

  it('gives each site a time zone, UTC when the file names none, and stops on an unknown one naming site, field and value', () => {
    expect(parseSites({ sites: [site()] }).get('shop')!.timezone).toBe('UTC');
    expect(parseSites({ sites: [site({ timezone: 'Asia/Kolkata' })] }).get('shop')!.timezone).toBe('Asia/Kolkata');
    expect(() => parseSites({ sites: [site({ timezone: 'Mars/Olympus_Mons' })] }, 'f.json')).toThrowError(/f\.json: sites\.0\.timezone: site "shop": unknown time zone "Mars\/Olympus_Mons"/);
    expect(() => parseSites({ sites: [site({ timezone: 'EST5' })] }, 'f.json')).toThrowError(/sites\.0\.timezone: site "shop": unknown time zone "EST5"/);
  });

  it('authorizes writes by site and write key, and reads by read key', () => {
    const sites = parseSites({ sites: [site()] });
    expect(sites.authorizeWrite('shop', 'wk_shop_12345678').ok).toBe(true);
    expect(sites.authorizeWrite('shop', 'rk_shop_12345678')).toMatchObject({ ok: false, reason: 'wrong-key' });
    expect(sites.authorizeWrite('shop', undefined)).toMatchObject({ ok: false, reason: 'wrong-key', message: expect.stringMatching(/no write key/) });
    expect(sites.authorizeWrite('nope', 'wk_shop_12345678')).toMatchObject({ ok: false, reason: 'unknown-site', message: 'unknown site "nope"' });
    expect(sites.authorizeRead('shop', 'rk_shop_12345678')).toBe(true);
    expect(sites.authorizeRead('shop', 'wk_shop_12345678')).toBe(false);
  });

  it('matches exact origins, subdomain and port wildcards, and "*"', () => {
    const sites = parseSites({
      sites: [
        site({ allowedOrigins: ['https://shop.example', 'https://*.shop.example', 'http://localhost:*'] }),
        site({ id: 'any', writeKey: 'wk_any_12345678', readKey: 'rk_any_12345678', allowedOrigins: ['*'] }),
        site({ id: 'none', writeKey: 'wk_none_12345678', readKey: 'rk_none_12345678', allowedOrigins: [] }),
      ],
    });
    const shop = sites.get('shop')!;
    expect(shop.allowsOrigin('https://shop.example')).toBe(true);
    expect(shop.allowsOrigin('https://SHOP.example')).toBe(true);
    expect(shop.allowsOrigin('https://a.b.shop.example')).toBe(true);
    expect(shop.allowsOrigin('http://localhost:5173')).toBe(true);
    expect(shop.allowsOrigin('http://localhost')).toBe(true);
    expect(shop.allowsOrigin('http://shop.example')).toBe(false);
    expect(shop.allowsOrigin('https://evilshop.example')).toBe(false);
    expect(shop.allowsOrigin('https://shop.example.evil.com')).toBe(false);
    expect(shop.allowsOrigin('https://shopXexample')).toBe(false);
    expect(sites.get('any')!.allowsOrigin('https://whatever.test')).toBe(true);
    expect(sites.get('none')!.allowsOrigin('https://shop.example')).toBe(false);
  });

  it('rejects a bad file naming the field and the problem', () => {
    const bad = (json: unknown) => () => parseSites(json, 'f.json');
    expect(bad({ sites: [site({ id: 'Shop {x}' })] })).toThrowError(/f\.json: sites\.0\.id: expected lower-case/);
    expect(bad({ sites: [site({ writeKey: 'short' })] })).toThrowError(/sites\.0\.writeKey: expected at least 8/);
    expect(bad({ sites: [site({ allowedOrigins: ['shop.example'] })] })).toThrowError(/sites\.0\.allowedOrigins\.0: expected "\*", an origin/);
    expect(bad({ sites: [site(), site({ writeKey: 'wk_other_1234567', readKey: 'rk_other_1234567' })] })).toThrowError(/duplicate site id "shop"/);
    expect(bad({ sites: [site(), site({ id: 'b', readKey: 'rk_other_1234567' })] })).toThrowError(/sites\.1\.writeKey: key already used/);
    expect(bad({ sites: [site({ extra: 1 })] })).toThrowError(/Unrecognized key/i);
    expect(bad({ sites: [] })).toThrowError(/at least one site/);
    expect(bad([])).toThrowError(ConfigError);
  });

  it('names the file when it is missing or not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sites-'));
    expect(() => loadSites(join(dir, 'missing.json'))).toThrowError(/SITES_FILE=".*missing\.json": cannot read it \(ENOENT\)/);
    writeFileSync(join(dir, 'bad.json'), '{"sites": [');
    expect(() => loadSites(join(dir, 'bad.json'))).toThrowError(/SITES_FILE=".*bad\.json": not valid JSON/);
  });
});

describe('the published demo keys', () => {
  const demo = loadSites(DEMO_SITES_FILE);
  const own = parseSites({ sites: [{ id: 'shop', writeKey: 'wk_own_0123456789abcdef', readKey: 'rk_own_0123456789abcdef' }] });

  it('are refused beyond loopback, named by site, unless allowed for a local trial', () => {
    expect(sitesWithDemoKeys(demo).length).toBeGreaterThan(0);
    expect(() => refuseDemoKeysInPublic('the collector', '0.0.0.0', demo, false)).toThrow(/the collector would listen on 0\.0\.0\.0 with the published demo keys .*sites shop/);
    expect(() => refuseDemoKeysInPublic('the serving API', '10.1.2.3', demo, false)).toThrow(ConfigError);
    for (const host of ['127.0.0.1', '127.0.1.1', '::1', 'localhost']) expect(() => refuseDemoKeysInPublic('the collector', host, demo, false), host).not.toThrow();
    expect(() => refuseDemoKeysInPublic('the collector', '0.0.0.0', demo, true)).not.toThrow();
    expect(() => refuseDemoKeysInPublic('the collector', '0.0.0.0', own, false)).not.toThrow();
  });
});

describe('hashed keys', () => {
  const hashed = (over: Record<string, unknown> = {}) => ({ id: 'shop', writeKeyHash: hashKey('wk_shop_12345678'), readKeyHash: hashKey('rk_shop_12345678'), ...over });

  it('authorize the keys whose SHA-256 they hold, and nothing else', () => {
    const sites = parseSites({ sites: [hashed()] });
    expect(sites.authorizeWrite('shop', 'wk_shop_12345678').ok).toBe(true);
    expect(sites.authorizeWrite('shop', 'rk_shop_12345678')).toMatchObject({ ok: false, reason: 'wrong-key' });
    expect(sites.authorizeRead('shop', 'rk_shop_12345678')).toBe(true);
    expect(sites.authorizeRead('shop', 'wk_shop_12345678')).toBe(false);
    expect(sites.authorizeRead('shop', hashed().readKeyHash)).toBe(false); // the stored hash is no key
  });

  it('need exactly one of the plain key and its hash per role, and catch a key reused as a hash', () => {
    expect(() => parseSites({ sites: [hashed({ writeKey: 'wk_shop_12345678' })] }, 'f.json')).toThrow(/site "shop": expected exactly one of writeKey .* and writeKeyHash/);
    expect(() => parseSites({ sites: [{ id: 'shop', readKeyHash: hashKey('rk_x_12345678') }] }, 'f.json')).toThrow(/exactly one of writeKey/);
    expect(() => parseSites({ sites: [hashed({ writeKeyHash: 'sha256:abc' })] }, 'f.json')).toThrow(/writeKeyHash: expected "sha256:" and 64/);
    expect(() => parseSites({ sites: [hashed(), { id: 'blog', writeKey: 'wk_shop_12345678', readKey: 'rk_blog_12345678' }] }, 'f.json')).toThrow(/key already used/);
  });

  it('still recognise the demo keys, and tools that need a plain key say the file holds hashes', () => {
    const demo = loadSites(DEMO_SITES_FILE).get('shop')!;
    const asHashes = parseSites({ sites: [{ id: 'x', writeKeyHash: hashKey(demo.writeKey!), readKeyHash: hashKey('rk_x_0123456789') }] });
    expect(sitesWithDemoKeys(asHashes)).toEqual(['x']);
    expect(() => plainKeys(parseSites({ sites: [hashed()] }).get('shop')!, 'the load generator')).toThrow(/site "shop" stores its keys hashed .*the load generator needs them in plain text/);
  });
});

describe('goals in the sites file (twinlane sites goal)', () => {
  it('adds, lists and removes a goal; refuses a wildcard matching every page, naming it, and leaves the file as it was', () => {
    const file = new SitesFile(join(mkdtempSync(join(tmpdir(), 'goals-')), 'sites.json'));
    file.add({ id: 'shop' });
    file.addGoal('shop', { name: 'Docs', page: '/docs/*' });
    file.addGoal('shop', { name: 'Signup', event: 'signup' });
    expect(file.goals('shop')).toEqual([{ name: 'Docs', page: '/docs/*' }, { name: 'Signup', event: 'signup' }]);
    const before = readFileSync(file.path, 'utf8');
    expect(() => file.addGoal('shop', { name: 'All', page: '/*' })).toThrow(/matches every page/);
    expect(() => file.addGoal('shop', { name: 'Docs', event: 'x' })).toThrow(/already has a goal/);
    expect(readFileSync(file.path, 'utf8')).toBe(before);
    file.removeGoal('shop', 'Docs');
    expect(file.goals('shop').map((g) => g.name)).toEqual(['Signup']);
    expect(() => file.removeGoal('shop', 'Nope')).toThrow(/no goal "Nope"/);
  });
});

describe('saved segments in the sites file (twinlane sites segment)', () => {
  it('adds, lists and removes a segment; refuses a duplicate name and a clause the file cannot hold, leaving the file as it was', () => {
    const file = new SitesFile(join(mkdtempSync(join(tmpdir(), 'segments-')), 'sites.json'));
    file.add({ id: 'shop' });
    file.addSegment('shop', { name: 'Mobile', filters: [['is', 'visit:device', ['mobile']]] });
    file.addSegment('shop', { name: 'DE search', filters: [['is', 'country', 'DE'], ['contains', 'referrer', ['google', 'bing']]] });
    expect(file.segments('shop').map((g) => g.name)).toEqual(['Mobile', 'DE search']);
    const before = readFileSync(file.path, 'utf8');
    expect(() => file.addSegment('shop', { name: 'Mobile', filters: [['is', 'country', 'FR']] })).toThrow(/already has a segment "Mobile"/);
    expect(() => file.addSegment('shop', { name: 'Empty', filters: [] })).toThrow(/segments/);
    expect(readFileSync(file.path, 'utf8')).toBe(before);
    file.removeSegment('shop', 'Mobile');
    expect(file.segments('shop')).toEqual([{ name: 'DE search', filters: [['is', 'country', 'DE'], ['contains', 'referrer', ['google', 'bing']]] }]);
    expect(() => file.removeSegment('shop', 'Nope')).toThrow(/no segment "Nope" \(its segments: DE search\)/);
    expect(() => file.segments('nope')).toThrow(/site "nope" is not in/);
  });
});

describe('custom property keys in the sites file (twinlane sites property)', () => {
  it('lists, adds and removes a key; refuses a duplicate, a key with a quote or brace and the 21st, leaving the file as it was', () => {
    const file = new SitesFile(join(mkdtempSync(join(tmpdir(), 'properties-')), 'sites.json'));
    file.add({ id: 'shop' });
    expect(file.properties('shop')).toEqual([]);
    file.addProperty('shop', 'plan');
    file.addProperty('shop', 'author name');
    expect(file.properties('shop')).toEqual(['plan', 'author name']);
    const before = readFileSync(file.path, 'utf8');
    expect(() => file.addProperty('shop', 'plan')).toThrow(/already lists the property "plan"/);
    expect(() => file.addProperty('shop', "x'y")).toThrow(/property name of 1 to 100 printable characters/);
    expect(() => file.addProperty('shop', '{tag}')).toThrow(/property name/);
    expect(readFileSync(file.path, 'utf8')).toBe(before);
    for (let i = 0; i < 18; i++) file.addProperty('shop', `k${i}`);
    expect(() => file.addProperty('shop', 'one-too-many')).toThrow(/properties/);
    file.removeProperty('shop', 'plan');
    expect(file.properties('shop')).not.toContain('plan');
    expect(() => file.removeProperty('shop', 'nope')).toThrow(/lists no property "nope"/);
  });
});
