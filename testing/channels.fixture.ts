/**
 * Cases of the channel rule table (core/channels.ts), each with the channel a person reading GA4's
 * default channel group would expect and why; written by hand, not computed. The unit test holds
 * channelOf() to them, batch/channel.sql.int.test.ts the DuckDB SQL generated from the same table.
 */
import type { Channel, ChannelInput } from '../core/channels.ts';

export interface ChannelCase {
  why: string;
  input: ChannelInput;
  channel: Channel;
}

const page = (over: Partial<ChannelInput>): ChannelInput => ({ referrer_host: null, hostname: 'shop.example', utm_source: null, utm_medium: null, utm_campaign: null, ...over });

export const CHANNEL_CASES: readonly ChannelCase[] = [
  { why: 'no referrer, no tags', input: page({}), channel: 'Direct' },
  { why: 'empty referrer and tags are none', input: page({ referrer_host: '', utm_source: '', utm_medium: '', utm_campaign: '' }), channel: 'Direct' },
  { why: 'internal navigation is no referral', input: page({ referrer_host: 'shop.example' }), channel: 'Direct' },
  { why: 'internal navigation, www. aside and another case', input: page({ referrer_host: 'WWW.Shop.Example' }), channel: 'Direct' },
  { why: 'a search engine', input: page({ referrer_host: 'www.google.com' }), channel: 'Organic Search' },
  { why: "a search engine's country domain", input: page({ referrer_host: 'www.google.co.uk' }), channel: 'Organic Search' },
  { why: "a search engine's country domain (two labels)", input: page({ referrer_host: 'google.com.br' }), channel: 'Organic Search' },
  { why: 'another search engine', input: page({ referrer_host: 'duckduckgo.com' }), channel: 'Organic Search' },
  { why: 'a name that only starts like a search engine is not one', input: page({ referrer_host: 'googleusercontent.example' }), channel: 'Referral' },
  { why: 'a search engine as a subdomain of another site is not one', input: page({ referrer_host: 'google.com.evil.example' }), channel: 'Referral' },
  { why: 'a social network', input: page({ referrer_host: 'www.reddit.com' }), channel: 'Organic Social' },
  { why: "Twitter's link shortener", input: page({ referrer_host: 't.co' }), channel: 'Organic Social' },
  { why: 'Hacker News', input: page({ referrer_host: 'news.ycombinator.com' }), channel: 'Organic Social' },
  { why: 'a mobile subdomain of a social network', input: page({ referrer_host: 'm.facebook.com' }), channel: 'Organic Social' },
  { why: 'a video site', input: page({ referrer_host: 'www.youtube.com' }), channel: 'Organic Video' },
  { why: 'a shop', input: page({ referrer_host: 'www.amazon.de' }), channel: 'Organic Shopping' },
  { why: 'a webmail is e-mail, though it is on a search engine domain', input: page({ referrer_host: 'mail.google.com' }), channel: 'Email' },
  { why: 'any other site', input: page({ referrer_host: 'github.com' }), channel: 'Referral' },
  { why: 'UTM source of a search engine with a paid medium', input: page({ utm_source: 'google', utm_medium: 'cpc', utm_campaign: 'brand' }), channel: 'Paid Search' },
  { why: 'tags are compared lower-cased', input: page({ utm_source: 'Google', utm_medium: 'CPC' }), channel: 'Paid Search' },
  { why: 'the UTM source wins over the referrer', input: page({ referrer_host: 'github.com', utm_source: 'bing', utm_medium: 'ppc' }), channel: 'Paid Search' },
  { why: 'the referrer is the source of a paid medium without a UTM source', input: page({ referrer_host: 'www.bing.com', utm_medium: 'paid-search' }), channel: 'Paid Search' },
  { why: 'a social network with a paid medium', input: page({ utm_source: 'fb', utm_medium: 'paid_social' }), channel: 'Paid Social' },
  { why: 'a shop with a paid medium', input: page({ utm_source: 'amazon', utm_medium: 'cpc' }), channel: 'Paid Shopping' },
  { why: 'a video site with a paid medium', input: page({ utm_source: 'youtube', utm_medium: 'cpv' }), channel: 'Paid Video' },
  { why: 'display media', input: page({ utm_source: 'adnetwork', utm_medium: 'banner' }), channel: 'Display' },
  { why: 'cpm is display, not paid other', input: page({ utm_source: 'adnetwork', utm_medium: 'cpm' }), channel: 'Display' },
  { why: 'a paid medium of an unknown source', input: page({ utm_source: 'partner-x', utm_medium: 'cpc' }), channel: 'Paid Other' },
  { why: 'a cross-network campaign, whatever the rest', input: page({ utm_source: 'google', utm_medium: 'cpc', utm_campaign: 'Summer Cross-Network' }), channel: 'Cross-network' },
  { why: 'a shopping campaign', input: page({ utm_source: 'partner-x', utm_campaign: 'autumn-shop' }), channel: 'Organic Shopping' },
  { why: 'a social medium of an unknown source', input: page({ utm_source: 'forum', utm_medium: 'social' }), channel: 'Organic Social' },
  { why: 'a social network as UTM source without a medium', input: page({ utm_source: 'twitter', utm_medium: 'social', utm_campaign: 'launch' }), channel: 'Organic Social' },
  { why: 'a video medium', input: page({ utm_source: 'partner-x', utm_medium: 'video' }), channel: 'Organic Video' },
  { why: 'an organic medium', input: page({ utm_source: 'partner-x', utm_medium: 'organic' }), channel: 'Organic Search' },
  { why: 'a newsletter by its medium', input: page({ utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'autumn' }), channel: 'Email' },
  { why: 'e-mail by its source alone', input: page({ utm_source: 'e-mail' }), channel: 'Email' },
  { why: 'a tagged e-mail read in a webmail keeps its tags', input: page({ referrer_host: 'outlook.live.com', utm_source: 'newsletter', utm_medium: 'email' }), channel: 'Email' },
  { why: 'affiliates', input: page({ utm_source: 'partner-x', utm_medium: 'affiliate' }), channel: 'Affiliates' },
  { why: 'text messages', input: page({ utm_source: 'sms' }), channel: 'SMS' },
  { why: 'audio', input: page({ utm_source: 'podcast-x', utm_medium: 'audio' }), channel: 'Audio' },
  { why: 'push notifications', input: page({ utm_source: 'app', utm_medium: 'web-push' }), channel: 'Mobile Push' },
  { why: 'a referral medium', input: page({ utm_source: 'partner-x', utm_medium: 'referral' }), channel: 'Referral' },
  { why: 'a tag the table does not know, without a referrer', input: page({ utm_source: 'partner-x' }), channel: 'Unassigned' },
  { why: 'an unknown medium with a referrer is not a referral (its tags say what it is)', input: page({ referrer_host: 'github.com', utm_medium: 'qr-code' }), channel: 'Unassigned' },
  { why: 'a campaign alone is tagged, so not direct', input: page({ utm_campaign: 'spring' }), channel: 'Unassigned' },
];
