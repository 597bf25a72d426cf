/**
 * Channels (`visit:channel`): what kind of traffic brought an event, decided from its referrer and
 * its UTM tags by one rule table. The table is data (CHANNEL_RULES, SOURCE_SITES), read top to
 * bottom, the first rule that holds naming the channel; it follows the public description of GA4's
 * default channel group (its channel names and medium patterns, and its order but for e-mail,
 * decided before referral so a webmail's referrer reads as e-mail; a shorter list of sites),
 * re-implemented here. serving/README.md's "Channels" section prints it for people (a test keeps
 * the two equal).
 *
 * What a rule looks at, per event (ChannelInput):
 * - the event is *tagged* when it has a utm_source, utm_medium or utm_campaign (empty = none);
 * - its *external referrer* is its referrer host unless that is missing or the page's own host
 *   (`www.` aside): internal navigation is no referral;
 * - its *source* is its utm_source, or else its external referrer host; the source's *category*
 *   (search, social, video, shopping, email, sms) comes from SOURCE_SITES, by a bare name
 *   (`utm_source=google`) or a domain and any of its subdomains (`www.google.co.uk`);
 * - medium and campaign are matched by the rules' patterns;
 * every comparison is on lower-cased text.
 *
 * Where it is computed (once per event, never stored in the lake): the batch job computes it in the
 * views' SQL from the lake's raw referrer and tags (batch/channel.sql.ts, generated from this
 * table), so a change of the table takes effect by re-running the batch days, never by a re-ingest;
 * the speed store needs it as each event is counted (its tuples carry it), so the consumer calls
 * channelOf(): its minutes expire within SPEED_TTL, and `twinlane speed rebuild` recounts them at
 * once. batch/channel.sql.int.test.ts holds the SQL and channelOf() to the same cases.
 */

export const CHANNELS = [
  'Direct',
  'Cross-network',
  'Paid Shopping',
  'Paid Search',
  'Paid Social',
  'Paid Video',
  'Display',
  'Paid Other',
  'Organic Shopping',
  'Organic Social',
  'Organic Video',
  'Organic Search',
  'Email',
  'Affiliates',
  'SMS',
  'Audio',
  'Mobile Push',
  'Referral',
  'Unassigned',
] as const;
export type Channel = (typeof CHANNELS)[number];

/** In priority order: a source matching several (mail.google.com: email and search) takes the first. */
export const SOURCE_CATEGORIES = ['email', 'sms', 'video', 'shopping', 'social', 'search'] as const;
export type SourceCategory = (typeof SOURCE_CATEGORIES)[number];

/** In a domain: any one- or two-label top-level domain of two or three letters (google.de, google.co.uk, google.com.br). */
export const ANY_TLD = '<tld>';

/**
 * Known sources per category: bare names as they appear in utm_source, and domains (each matching
 * itself and every subdomain) as they appear in referrers or in utm_source.
 */
export const SOURCE_SITES: Readonly<Record<SourceCategory, { names: readonly string[]; domains: readonly string[] }>> = {
  email: {
    names: ['email', 'e-mail', 'e_mail', 'e mail', 'mail', 'newsletter'],
    domains: ['mail.google.com', 'outlook.live.com', 'outlook.office.com', 'outlook.office365.com', 'mail.yahoo.com', 'mail.proton.me', 'mail.aol.com', 'webmail.gmx.net'],
  },
  sms: { names: ['sms'], domains: [] },
  video: {
    names: ['youtube', 'vimeo', 'twitch', 'dailymotion', 'wistia'],
    domains: ['youtube.com', 'youtu.be', 'vimeo.com', 'twitch.tv', 'dailymotion.com', 'wistia.com'],
  },
  shopping: {
    names: ['amazon', 'ebay', 'etsy', 'shopify', 'walmart', 'aliexpress', 'google shopping', 'shopping'],
    domains: [`amazon.${ANY_TLD}`, `ebay.${ANY_TLD}`, 'etsy.com', 'shopify.com', 'walmart.com', 'aliexpress.com', 'shopping.google.com'],
  },
  social: {
    names: ['facebook', 'fb', 'instagram', 'ig', 'twitter', 'x', 'linkedin', 'reddit', 'pinterest', 'tiktok', 'snapchat', 'tumblr', 'vk', 'mastodon', 'threads', 'bluesky', 'quora', 'whatsapp', 'telegram', 'discord', 'hackernews', 'weibo'],
    domains: [
      'facebook.com', 'fb.com', 'fb.me', 'messenger.com', 'instagram.com', 'twitter.com', 'x.com', 't.co', 'linkedin.com', 'lnkd.in',
      'reddit.com', `pinterest.${ANY_TLD}`, 'pin.it', 'tiktok.com', 'snapchat.com', 'tumblr.com', 'vk.com', 'mastodon.social', 'threads.net',
      'bsky.app', 'quora.com', 'whatsapp.com', 'telegram.org', 't.me', 'discord.com', 'news.ycombinator.com', 'weibo.com',
    ],
  },
  search: {
    names: ['google', 'bing', 'yahoo', 'duckduckgo', 'baidu', 'yandex', 'ecosia', 'qwant', 'startpage', 'brave', 'naver', 'seznam', 'ask', 'sogou'],
    domains: [
      `google.${ANY_TLD}`, 'bing.com', `yahoo.${ANY_TLD}`, 'duckduckgo.com', 'baidu.com', `yandex.${ANY_TLD}`, 'ecosia.org', 'qwant.com',
      'startpage.com', 'search.brave.com', 'naver.com', 'seznam.cz', 'ask.com', 'search.aol.com', 'sogou.com',
    ],
  },
};

/**
 * One test of a rule:
 * - `untagged`: no utm_source, utm_medium or utm_campaign, and an external referrer (`referrer: true`) or none;
 * - `source`: the source's category is one of these;
 * - `medium` / `campaign`: the whole lower-cased utm_medium / utm_campaign matches the pattern
 *   (regular-expression syntax common to JavaScript and RE2: anchors, groups, alternation, `.*`);
 * - `any`: one of its tests holds.
 */
export type ChannelTest =
  | { kind: 'untagged'; referrer: boolean }
  | { kind: 'source'; categories: readonly SourceCategory[] }
  | { kind: 'medium'; pattern: string }
  | { kind: 'campaign'; pattern: string }
  | { kind: 'any'; of: readonly ChannelTest[] };

/** A rule holds when all of its tests hold. */
export interface ChannelRule {
  channel: Channel;
  all: readonly ChannelTest[];
}

/** GA4's paid media pattern: cost per click or mille and the like. */
export const PAID_MEDIUM = '^(.*cp.*|ppc|retargeting|paid.*)$';

const source = (...categories: SourceCategory[]): ChannelTest => ({ kind: 'source', categories });
const medium = (pattern: string): ChannelTest => ({ kind: 'medium', pattern });
const paid = medium(PAID_MEDIUM);

/** The rule table, first match wins; an event no rule claims is FALLBACK_CHANNEL. */
export const CHANNEL_RULES: readonly ChannelRule[] = [
  { channel: 'Direct', all: [{ kind: 'untagged', referrer: false }] },
  { channel: 'Cross-network', all: [{ kind: 'campaign', pattern: '^.*cross-network.*$' }] },
  { channel: 'Paid Shopping', all: [source('shopping'), paid] },
  { channel: 'Paid Search', all: [source('search'), paid] },
  { channel: 'Paid Social', all: [source('social'), paid] },
  { channel: 'Paid Video', all: [source('video'), paid] },
  { channel: 'Display', all: [medium('^(display|banner|expandable|interstitial|cpm)$')] },
  { channel: 'Paid Other', all: [paid] },
  { channel: 'Organic Shopping', all: [{ kind: 'any', of: [source('shopping'), { kind: 'campaign', pattern: '^(.*(([^a-df-z]|^)shop|shopping).*)$' }] }] },
  { channel: 'Organic Social', all: [{ kind: 'any', of: [source('social'), medium('^(social|social-network|social-media|sm|social network|social media)$')] }] },
  { channel: 'Organic Video', all: [{ kind: 'any', of: [source('video'), medium('^(.*video.*)$')] }] },
  { channel: 'Organic Search', all: [{ kind: 'any', of: [source('search'), medium('^organic$')] }] },
  { channel: 'Email', all: [{ kind: 'any', of: [source('email'), medium('^(email|e-mail|e_mail|e mail|newsletter)$')] }] },
  { channel: 'Affiliates', all: [medium('^affiliate$')] },
  { channel: 'SMS', all: [{ kind: 'any', of: [source('sms'), medium('^sms$')] }] },
  { channel: 'Audio', all: [medium('^audio$')] },
  { channel: 'Mobile Push', all: [medium('^(.*push|.*mobile.*|.*notification.*)$')] },
  { channel: 'Referral', all: [{ kind: 'any', of: [{ kind: 'untagged', referrer: true }, medium('^(referral|app|link)$')] }] },
];
export const FALLBACK_CHANNEL: Channel = 'Unassigned';

/** The fields of an event a channel is decided from (TwinlaneEvent and the speed path's RollupEvent have them). */
export interface ChannelInput {
  referrer_host: string | null;
  hostname: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The pattern a category's sources match, in the syntax JavaScript and RE2 (DuckDB) share: a bare
 * name whole, or a domain with any subdomains.
 */
export function sourcePattern(category: SourceCategory): string {
  const { names, domains } = SOURCE_SITES[category];
  const alternatives: string[] = [];
  if (names.length) alternatives.push(`^(?:${names.map(escapeRegex).join('|')})$`);
  if (domains.length) alternatives.push(`^(?:.*\\.)?(?:${domains.map((d) => escapeRegex(d).replaceAll(ANY_TLD, '[a-z]{2,3}(?:\\.[a-z]{2})?')).join('|')})$`);
  return alternatives.join('|');
}

/** A tag as the rules see it: null when missing or empty, else lower-cased. */
function tag(v: string | null): string | null {
  return v === null || v === '' ? null : v.toLowerCase();
}

function withoutWww(host: string): string {
  return host.startsWith('www.') ? host.slice(4) : host;
}

/** The referrer host when it is another site's (lower-cased), else null. */
export function externalReferrer(e: Pick<ChannelInput, 'referrer_host' | 'hostname'>): string | null {
  const ref = tag(e.referrer_host);
  if (ref === null) return null;
  return withoutWww(ref) === withoutWww((e.hostname ?? '').toLowerCase()) ? null : ref;
}

const CATEGORY_RE: readonly [SourceCategory, RegExp][] = SOURCE_CATEGORIES.map((c) => [c, new RegExp(sourcePattern(c))]);
const PATTERNS = new Map<string, RegExp>();
function pattern(p: string): RegExp {
  let re = PATTERNS.get(p);
  if (!re) PATTERNS.set(p, (re = new RegExp(p)));
  return re;
}

/** The category of a (lower-cased) source, or null. */
export function sourceCategory(src: string | null): SourceCategory | null {
  if (src === null) return null;
  for (const [c, re] of CATEGORY_RE) if (re.test(src)) return c;
  return null;
}

interface Facts {
  tagged: boolean;
  referrer: boolean;
  category: SourceCategory | null;
  medium: string;
  campaign: string;
}

function holds(t: ChannelTest, f: Facts): boolean {
  switch (t.kind) {
    case 'untagged':
      return !f.tagged && f.referrer === t.referrer;
    case 'source':
      return f.category !== null && t.categories.includes(f.category);
    case 'medium':
      return pattern(t.pattern).test(f.medium);
    case 'campaign':
      return pattern(t.pattern).test(f.campaign);
    case 'any':
      return t.of.some((x) => holds(x, f));
  }
}

function decide(f: Facts): Channel {
  for (const rule of CHANNEL_RULES) if (rule.all.every((t) => holds(t, f))) return rule.channel;
  return FALLBACK_CHANNEL;
}

/** Answers by what decides them (bounded: cleared when full); the speed path asks once per event. */
const byReferrer = new Map<string, Channel>();
const byTags = new Map<string, Channel>();
const CACHE_ENTRIES = 10_000;

function cached(map: Map<string, Channel>, key: string, compute: () => Channel): Channel {
  let c = map.get(key);
  if (c === undefined) {
    if (map.size >= CACHE_ENTRIES) map.clear();
    map.set(key, (c = compute()));
  }
  return c;
}

/** The channel of an event by the rule table. */
export function channelOf(e: ChannelInput): Channel {
  // Most events carry neither tags nor a referrer: answered without a string made.
  if (!e.utm_source && !e.utm_medium && !e.utm_campaign && !e.referrer_host) return 'Direct';
  const ref = externalReferrer(e);
  const s = tag(e.utm_source), m = tag(e.utm_medium), c = tag(e.utm_campaign);
  if (s === null && m === null && c === null) {
    if (ref === null) return 'Direct';
    return cached(byReferrer, ref, () => decide({ tagged: false, referrer: true, category: sourceCategory(ref), medium: '', campaign: '' }));
  }
  const src = s ?? ref;
  return cached(byTags, `${src ?? ''}\u0001${m ?? ''}\u0001${c ?? ''}\u0001${ref === null ? 0 : 1}`, () =>
    decide({ tagged: true, referrer: ref !== null, category: sourceCategory(src), medium: m ?? '', campaign: c ?? '' }),
  );
}
