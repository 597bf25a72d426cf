/**
 * The channel rule table (core/channels.ts) in DuckDB SQL, generated from the table, over the lake's
 * raw referrer, page host and UTM columns: the views compute each event's channel when the day is
 * projected, so a change of the table takes effect when the days are computed again. In three
 * steps, each over the one before: the rules' inputs (CHANNEL_INPUTS_SQL), the source's category
 * (CHANNEL_CATEGORY_SQL), then the rules in order as one CASE (CHANNEL_SQL). The batch job runs the
 * three once per distinct combination of the lake columns they read (CHANNEL_COLUMNS) among the
 * day's rows (views.sql.ts DAY_CHANNELS_SQL: a few hundred rows, not millions; per row the rules
 * cost about 0.6 µs, a third of the whole day's projection, and their inputs alone 0.06 µs) and
 * joins the day's rows to them on those columns. The helper columns (CHANNEL_HELPERS) never reach a view.
 * Every text here is a constant of the table; nothing comes from input.
 */
import { CHANNEL_RULES, FALLBACK_CHANNEL, SOURCE_CATEGORIES, sourcePattern, type ChannelTest } from '../core/channels.ts';

/** The lake columns the rules read: the key on which a day's rows join their channel (views.sql.ts DAY_CHANNELS_SQL). */
export const CHANNEL_COLUMNS = ['referrer_host', 'hostname', 'utm_source', 'utm_medium', 'utm_campaign'] as const;

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A tag as the rules see it (core/channels.ts `tag`): NULL when missing or empty, else lower-cased. */
const lowerTag = (col: string) => `nullif(lower(CAST(${col} AS VARCHAR)), '')`;
const withoutWww = (expr: string) => `regexp_replace(${expr}, '^www\\.', '')`;

/**
 * Step 1, select items over a lake row: the external referrer (`ch_ref`, core/channels.ts
 * externalReferrer), the UTM source, medium and campaign as the rules see them.
 */
export const CHANNEL_INPUTS_SQL = `CASE WHEN ${lowerTag('referrer_host')} IS NULL
      OR ${withoutWww('lower(CAST(referrer_host AS VARCHAR))')} = ${withoutWww("lower(coalesce(CAST(hostname AS VARCHAR), ''))")} THEN NULL
    ELSE lower(CAST(referrer_host AS VARCHAR)) END AS ch_ref,
  ${lowerTag('utm_source')} AS ch_s, coalesce(${lowerTag('utm_medium')}, '') AS ch_medium, coalesce(${lowerTag('utm_campaign')}, '') AS ch_campaign`;

/** Step 2: the source's category (`ch_cat`), the first of SOURCE_CATEGORIES whose pattern it matches, or NULL. */
export const CHANNEL_CATEGORY_SQL = `CASE WHEN coalesce(ch_s, ch_ref) IS NULL THEN NULL
    ${SOURCE_CATEGORIES.map((c) => `WHEN regexp_matches(coalesce(ch_s, ch_ref), ${literal(sourcePattern(c))}) THEN ${literal(c)}`).join('\n    ')}
    ELSE NULL END`;

const TAGGED = `(ch_s IS NOT NULL OR ch_medium <> '' OR ch_campaign <> '')`;

function testSql(t: ChannelTest): string {
  switch (t.kind) {
    case 'untagged':
      return `(NOT ${TAGGED} AND ch_ref IS ${t.referrer ? 'NOT NULL' : 'NULL'})`;
    case 'source':
      return `coalesce(ch_cat IN (${t.categories.map(literal).join(', ')}), false)`;
    case 'medium':
      return `regexp_matches(ch_medium, ${literal(t.pattern)})`;
    case 'campaign':
      return `regexp_matches(ch_campaign, ${literal(t.pattern)})`;
    case 'any':
      return `(${t.of.map(testSql).join(' OR ')})`;
  }
}

/** Step 3: the channel, the first rule that holds. */
export const CHANNEL_SQL = `CASE
    ${CHANNEL_RULES.map((r) => `WHEN ${r.all.map(testSql).join(' AND ')} THEN ${literal(r.channel)}`).join('\n    ')}
    ELSE ${literal(FALLBACK_CHANNEL)} END`;
