import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHANNEL_CASES } from '../testing/channels.fixture.ts';
import { truthChannel } from '../testing/truth.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { CHANNEL_RULES, CHANNELS, channelOf, externalReferrer, FALLBACK_CHANNEL, SOURCE_CATEGORIES, SOURCE_SITES, sourceCategory, sourcePattern, type ChannelInput, type ChannelTest } from './channels.ts';

describe('the channel rule table', () => {
  it.each(CHANNEL_CASES.map((c) => [c.why, c] as const))('%s', (_, c) => {
    expect(channelOf(c.input)).toBe(c.channel);
    // Answers are cached by what decides them: asking again gives the same.
    expect(channelOf({ ...c.input })).toBe(c.channel);
  });

  it('has a case for every channel, and every channel is reachable', () => {
    const covered = new Set(CHANNEL_CASES.map((c) => c.channel));
    expect(CHANNELS.filter((ch) => !covered.has(ch))).toEqual([]);
    expect(new Set([...CHANNEL_RULES.map((r) => r.channel), FALLBACK_CHANNEL])).toEqual(new Set(CHANNELS));
  });

  it('matches a known site by a bare name or a domain with subdomains, nothing that merely contains it', () => {
    expect(sourceCategory('google')).toBe('search');
    expect(sourceCategory('news.google.de')).toBe('search');
    expect(sourceCategory('notgoogle.com')).toBeNull();
    expect(sourceCategory('google.com.example')).toBeNull();
    expect(sourceCategory('my google')).toBeNull();
    expect(sourceCategory(null)).toBeNull();
    // Each category's pattern is a valid expression on its own, anchored at both ends.
    for (const c of SOURCE_CATEGORIES) expect(new RegExp(sourcePattern(c)).test(`x${SOURCE_CATEGORIES.join('')}x`)).toBe(false);
  });

  it('gives what the truth reads from the table, for the cases and for every mix of referrers and tags', () => {
    const event = (input: ChannelInput) => ({ ...input, hostname: input.hostname ?? '' }) as TwinlaneEvent;
    for (const c of CHANNEL_CASES) expect(truthChannel(event(c.input)), c.why).toBe(c.channel);
    const referrers = [null, 'shop.example', 'www.google.de', 'mail.google.com', 'm.youtube.com', 'www.etsy.com', 'lnkd.in', 'example.org', 'google.evil.example'];
    const sources = [null, 'google', 'FB', 'newsletter', 'sms', 'amazon.co.uk', 'unknown-partner', ''];
    const mediums = [null, 'cpc', 'Paid-Social', 'email', 'display', 'affiliate', 'referral', 'video', 'organic', 'web-push', 'audio', 'qr'];
    const campaigns = [null, 'brand', 'Cross-Network Q3', 'summer-shop'];
    let n = 0;
    for (const referrer_host of referrers)
      for (const utm_source of sources)
        for (const utm_medium of mediums)
          for (const utm_campaign of campaigns) {
            const input = { referrer_host, hostname: 'shop.example', utm_source, utm_medium, utm_campaign };
            expect(channelOf(input), JSON.stringify(input)).toBe(truthChannel(event(input)));
            n++;
          }
    expect(n).toBe(3_456);
  });

  it('is printed in serving/README.md as it is: every rule in order, its patterns, every known site', () => {
    const readme = readFileSync(new URL('../serving/README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Channels (`visit:channel`)'), readme.indexOf('## Time zones'));
    expect([...section.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)].map((m) => m[2]!.trim())).toEqual(CHANNEL_RULES.map((r) => r.channel));
    const patterns = (t: ChannelTest): string[] => (t.kind === 'any' ? t.of.flatMap(patterns) : t.kind === 'medium' || t.kind === 'campaign' ? [t.pattern] : []);
    for (const p of CHANNEL_RULES.flatMap((r) => r.all.flatMap(patterns))) expect(section).toContain(p.replaceAll('|', '\\|'));
    for (const c of SOURCE_CATEGORIES) {
      const line = section.split('\n').find((l) => l.startsWith(`| ${c} |`));
      expect(line, c).toBeDefined();
      for (const site of [...SOURCE_SITES[c].names, ...SOURCE_SITES[c].domains]) expect(line).toContain(site);
    }
  });

  it('takes only another site as a referrer', () => {
    expect(externalReferrer({ referrer_host: 'www.shop.example', hostname: 'shop.example' })).toBeNull();
    expect(externalReferrer({ referrer_host: 'shop.example', hostname: 'www.shop.example' })).toBeNull();
    expect(externalReferrer({ referrer_host: 'blog.shop.example', hostname: 'shop.example' })).toBe('blog.shop.example');
    expect(externalReferrer({ referrer_host: '', hostname: 'shop.example' })).toBeNull();
  });
});
