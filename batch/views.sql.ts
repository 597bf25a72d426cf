/**
 * The SQL of the batch views, shared by the job (which writes them) and the reader (which
 * answers filtered or unaligned queries from the day's deduplicated events with the same
 * definitions). Metric definitions follow the serving layer's reference (contract 7):
 * bots count only in bot_pageviews; visitors and sessions are exact distinct counts of non-bot
 * traffic; sessions are the server's visits (contract 9: a gap above SESSION_IDLE_TIMEOUT starts
 * one, whatever session id the client sent; serverSessionsSql writes them into the day's events as
 * `session_id`), and a session's bounce and duration are taken within the bucket; `events` are custom
 * events; revenue sums purchases in micro-units (exact), the read contract's unit, of the query's
 * reporting currency only (`$currency`, contract 10). The job's precomputed rollups and per-day
 * breakdowns (`revenue_micros`) hold every currency's purchases together, so the reader answers
 * revenue from the day's events instead, except a breakdown by currency (one currency per row). A missing
 * dimension value gets core/views.ts labelOf()'s label when the day's events are projected, so the
 * views, filters and breakdowns hold the same labels as the speed store.
 * Every value in these strings is a constant or a `$parameter`; nothing is interpolated from input.
 */
import { DIMENSIONS, MISSING_LABEL, MISSING_PROPERTY_LABEL, MISSING_VALUES, type AnyDimension, type Dimension, type FilterCondition, type Grain } from '../core/views.ts';
import { conditionSqlOf, dimensionColumn, DIMENSION_COLUMNS } from '../core/rollups.ts';
import { ERASED_MACRO } from '../core/erasure.list.ts';
import { CHANNEL_CATEGORY_SQL, CHANNEL_COLUMNS, CHANNEL_INPUTS_SQL, CHANNEL_SQL } from './channel.sql.ts';

export { DIMENSION_COLUMNS, metricValue, ROLLUP_METRIC_COLUMNS, type RollupRow } from '../core/rollups.ts';

/** The day's deduplicated events as the views keep them: dimensions carry their display labels. */
export const EVENTS_COLUMNS = `site_id, type, event_time, visitor_id, session_id, is_bot, revenue_micros,
  page, referrer, country, device, browser, os, utm_source, utm_medium, utm_campaign, utm_term, utm_content, channel, event_name, currency, properties`;

/** A dimension's column in the day's events; a custom property's value (core/views.ts labelOfAny: missing or empty is `(none)`). */
export function columnSql(d: AnyDimension): string {
  return dimensionColumn(d, (key) => `coalesce(nullif(properties[${sqlLiteral(key)}], ''), ${sqlLiteral(MISSING_PROPERTY_LABEL)})`);
}

/** A filter condition over `column` in DuckDB, its values bound as the parameters `param(j)` names. */
export function conditionSql(c: FilterCondition, column: string, param: (j: number) => string): string {
  return conditionSqlOf(c, column, param, (col, v) => `contains(${col}, ${v})`, (col, v) => `regexp_full_match(${col}, ${v})`);
}

/** A constant as a SQL string literal (quotes doubled); only labels of core/views.ts pass here. */
function sqlLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * core/views.ts labelOf() in SQL, over the lake column `column` cast to VARCHAR: each missing value
 * turned into NULL, then NULL into the label (cheaper per row than a CASE on the 10M-event day).
 * With the day's ENUM of the column (`e`: a type holding every value, the missing values and the
 * label, enumValuesSql), the value is cast to it first and the rest compares enum indexes, not
 * strings; and only the missing values the day's rows hold are looked for (none: the cast alone).
 * The value is read by lakeValueSql (a TRY_CAST: the job runs this once per value of a Parquet
 * dictionary, perDictionaryValue); the missing values and the label are always in the type.
 */
export function labelSql(dimension: Dimension, column: string, e?: DayEnum): string {
  const as = (v: string) => (e ? `CAST(${v} AS ${e.type})` : v);
  let value = lakeValueSql(column, e);
  if (e && e.missing.length === 0) return value;
  for (const missing of MISSING_VALUES[dimension]) if (!e || e.missing.includes(missing)) value = `nullif(${value}, ${as(sqlLiteral(missing))})`;
  return `coalesce(${value}, ${as(sqlLiteral(MISSING_LABEL[dimension]))})`;
}

/**
 * The four lake columns visits are cut on, cast as the view rows hold them (dayMinutesSql reads
 * them with the event type and revenue). The site takes the day's ENUM here, once per dictionary
 * value (perDictionaryValue), so the events' join compares it as a small integer and no event casts
 * it after the join (about 1 CPU-s less on the 10M-event day). A site the day's ENUM lacks (one of the previous day's tail
 * only) becomes NULL (lakeValueSql), and such a visit joins no event, as none of the day's has it.
 */
function visitProjection(enums: DayEnums): string {
  const site = enums.get('site_id');
  const siteSql = site ? perDictionaryValue('site_id', (x) => lakeValueSql(x, site)) : lakeValueSql('site_id');
  return `${siteSql} AS site_id, CAST(visitor_id AS VARCHAR) AS visitor_id,
  coalesce(CAST(is_bot AS BOOLEAN), false) AS is_bot, CAST(event_time AS TIMESTAMP) AS event_time`;
}

/** Lake rows in event time [from, to) (two parameters' names). */
function timeRangeSql(from: string, to: string): string {
  return `CAST(event_time AS TIMESTAMP) >= ${from} AND CAST(event_time AS TIMESTAMP) < ${to}`;
}

/** The lake column of a dimension named otherwise in the lake (the rest keep their names). */
const LAKE_COLUMN: Partial<Record<Dimension, string>> = { page: 'path', referrer: 'referrer_host', device: 'device_type', event_name: 'name' };

/**
 * The view's string columns made from one lake column each (most with few distinct values a day):
 * the event type and every dimension but the channel (computed by the rules), each with its lake
 * column and the dimension whose label a missing value gets (core/views.ts labelOf).
 */
const LABELLED_COLUMNS: readonly { column: string; lake: string; dimension: Dimension | null }[] = [
  { column: 'type', lake: 'type', dimension: null },
  ...DIMENSIONS.filter((d) => d !== 'channel').map((d) => ({ column: DIMENSION_COLUMNS[d], lake: LAKE_COLUMN[d] ?? d, dimension: d })),
];

/** The columns whose day's values make ENUM types (DAY_VALUES_SQL): site_id and the labelled columns. */
const VALUE_COLUMNS: readonly { column: string; lake: string }[] = [{ column: 'site_id', lake: 'site_id' }, ...LABELLED_COLUMNS];

/**
 * A labelled column's lake value as the view holds it, of the day's ENUM type when it has one.
 * Worked out once per distinct value of a Parquet dictionary page rather than once per row:
 * DuckDB runs a function over a dictionary vector on its dictionary alone, but not a cast, so the
 * labelling and the cast ride in a one-element list_transform (perDictionaryValue).
 */
function labelledSql(c: (typeof LABELLED_COLUMNS)[number], enums: DayEnums): string {
  const e = enums.get(c.column);
  return perDictionaryValue(c.lake, (x) => (c.dimension ? labelSql(c.dimension, x, e) : lakeValueSql(x, e)));
}

/**
 * `expr` of `column`, in a form DuckDB evaluates on the distinct values of a dictionary-encoded
 * vector (a lake column of few values) instead of on every row. The string-to-ENUM cast costs
 * about 20 ns a row; on the 10M-event day the 15 labelled columns' casts were most of the lake
 * projection's 3.4 CPU-s. A vector without a dictionary (a page written plain) pays about 15 ns a
 * row more for the list instead. `expr` runs on every value of the dictionary, those of rows the
 * query leaves out too (outside the day, erased), so it must not fail on a value no kept row has.
 */
function perDictionaryValue(column: string, expr: (x: string) => string): string {
  return `list_transform([${column}], x -> ${expr('x')})[1]`;
}

/**
 * A lake column's value as text, or as the day's ENUM `e` when it has one, NULL when the type
 * lacks it: a TRY_CAST, since perDictionaryValue also casts the values of rows the day leaves out
 * (outside the day, erased, the previous day's tail), and a CAST would fail the day on them. Every
 * kept row's value is in the type (enumValuesSql reads the same rows), as the enum-columns test checks.
 */
function lakeValueSql(column: string, e?: DayEnum): string {
  return e ? `TRY_CAST(CAST(${column} AS VARCHAR) AS ${e.type})` : `CAST(${column} AS VARCHAR)`;
}

/** `value` cast to the day's ENUM of `column` when it has one (ENUM_COLUMNS). */
function asEnum(enums: DayEnums, column: string, value: string): string {
  const type = enums.get(column)?.type;
  return type ? `CAST(${value} AS ${type})` : value;
}

/**
 * Lake rows → view rows; casts make files of other writers (TIMESTAMP_MS, TIMESTAMPTZ…) fit. The
 * labelled columns take their day's ENUM type here, as they leave the scan, and are labelled as
 * enums: about 1.5 CPU-s less than labelling the strings and casting those (14 columns of the
 * 10M-event day), and the joins carry one or two bytes for each instead of a string.
 */
function lakeProjection(enums: DayEnums): string {
  return `CAST(event_id AS VARCHAR) AS event_id, ${visitProjection(enums)},
  CAST(received_time AS TIMESTAMP) AS received_time, CAST(session_id AS VARCHAR) AS session_id, CAST(revenue_micros AS BIGINT) AS revenue_micros,
  ${LABELLED_COLUMNS.map((c) => `${labelledSql(c, enums)} AS ${c.column}`).join(', ')},
  CAST(properties AS MAP(VARCHAR, VARCHAR)) AS properties`;
}

const LAKE_SCAN = `read_parquet($files, union_by_name = true, hive_partitioning = false)`;
/** Rows of erased visitors never reach a view (core/erasure.list.ts defines the macro on the job's connection). */
const NOT_ERASED = `NOT ${ERASED_MACRO}(CAST(site_id AS VARCHAR), CAST(visitor_id AS VARCHAR))`;
const IN_DAY = `${timeRangeSql('$start', '$end')} AND ${NOT_ERASED}`;

/**
 * Exact dedupe without a hash table of 36-byte ids: 64-bit hashes that occur more than once
 * (normally none) mark the only rows that can be duplicates; those are deduplicated by the real
 * id, every other row passes untouched. The repeated hashes are found by sorting the hashes and
 * comparing neighbours, about half the CPU of a hash aggregate with one group per event.
 */
export const DUPLICATE_HASHES_SQL = `CREATE OR REPLACE TEMP TABLE dup AS
  SELECT DISTINCT h FROM (SELECT h, lag(h) OVER (ORDER BY h) AS prev FROM (SELECT hash(CAST(event_id AS VARCHAR)) AS h FROM ${LAKE_SCAN} WHERE ${IN_DAY}))
  WHERE h = prev`;

/**
 * The lake columns whose distinct values of the day the job needs: site_id and each labelled
 * column (the ENUM types, DAY_VALUES_SQL), and the combinations of the CHANNEL_COLUMNS
 * (DAY_CHANNELS_SQL). A column may be both.
 */
const DISTINCT_COLUMNS: readonly string[] = [...new Set([...VALUE_COLUMNS.map((c) => c.lake), ...CHANNEL_COLUMNS])];
/** `grouping_id` of the grouping set of `columns` in DAY_DISTINCT_SQL: a bit per column of DISTINCT_COLUMNS not grouped (the first the highest). */
function groupingId(columns: readonly string[]): number {
  return DISTINCT_COLUMNS.reduce((g, c, i) => (columns.includes(c) ? g : g + 2 ** (DISTINCT_COLUMNS.length - 1 - i)), 0);
}

/**
 * `day_distinct`: in one scan of the day's lake rows, the distinct values of each column of
 * DISTINCT_COLUMNS (a grouping set each) and the distinct combinations of CHANNEL_COLUMNS (one
 * grouping set); `g` tells the sets apart (groupingId), since a column outside a row's set is NULL
 * like a missing value. Two scans before (the channels' `SELECT DISTINCT` and a `list(DISTINCT …)`
 * per column): on the 10M-event day this one took 1.9–2.1 against 2.5–3.0 CPU-s (statements alone),
 * and the job's channel and ENUM steps 1.3–1.5 against 1.5–1.8 (4 alternating pairs).
 * Grouped on the lake's own values; DAY_VALUES_SQL and DAY_CHANNELS_SQL cast them to text and
 * take them distinct again, in case two of a foreign file's values make the same text. The job
 * drops it once both are made.
 */
export const DAY_DISTINCT_SQL = `CREATE OR REPLACE TEMP TABLE day_distinct AS
  SELECT ${DISTINCT_COLUMNS.join(', ')}, grouping_id(${DISTINCT_COLUMNS.join(', ')}) AS g FROM ${LAKE_SCAN} WHERE ${IN_DAY}
  GROUP BY GROUPING SETS (${DISTINCT_COLUMNS.map((c) => `(${c})`).join(', ')}, (${CHANNEL_COLUMNS.join(', ')}))`;

/**
 * `day_channels`: the channel (channel.sql.ts) of each distinct combination of the lake columns the
 * rules read (CHANNEL_COLUMNS, as text) among the day's lake rows (`day_distinct`), for viewRowsSql
 * to join; the job makes it before the day's events and drops it after. The rules' inputs are
 * worked out here, per combination: worked out per row for the join, they took about 0.5 CPU-s of
 * the 10M-event day's events file and as much again here.
 */
export const DAY_CHANNELS_SQL = `CREATE OR REPLACE TEMP TABLE day_channels AS
  SELECT ${CHANNEL_COLUMNS.join(', ')}, ${CHANNEL_SQL} AS channel FROM (
    SELECT *, ${CHANNEL_CATEGORY_SQL} AS ch_cat FROM (SELECT *, ${CHANNEL_INPUTS_SQL} FROM (
      SELECT DISTINCT ${CHANNEL_COLUMNS.map((c) => `CAST(${c} AS VARCHAR) AS ${c}`).join(', ')} FROM day_distinct WHERE g = ${groupingId(CHANNEL_COLUMNS)})))`;

/** A lake row's CHANNEL_COLUMNS as text, named apart from the view's columns of the same names. */
const CHANNEL_KEYS = CHANNEL_COLUMNS.map((c) => ({ key: `ch_${c}`, sql: `CAST(${c} AS VARCHAR) AS ch_${c}`, column: c }));

/**
 * The day's lake rows of `scan` in view form, `extra` select items riding along: the projection and
 * the lake columns the rules read, joined to `day_channels` on them (NULLs equal too) for the channel.
 */
function viewRowsSql(scan: string, enums: DayEnums, extra = ''): string {
  const on = CHANNEL_KEYS.map((k) => `r.${k.key} IS NOT DISTINCT FROM c.${k.column}`).join(' AND ');
  return `SELECT r.* EXCLUDE (${CHANNEL_KEYS.map((k) => k.key).join(', ')}), c.channel FROM (
      SELECT ${lakeProjection(enums)}${extra}, ${CHANNEL_KEYS.map((k) => k.sql).join(', ')} FROM ${scan} WHERE ${IN_DAY}) AS r
    LEFT JOIN (SELECT * REPLACE (${asEnum(enums, 'channel', 'channel')} AS channel) FROM day_channels) AS c ON ${on}`;
}

/**
 * The day's events file writes its columns of few distinct values as DuckDB ENUMs: the Parquet
 * writer then takes the dictionary from the type and writes each value's index, instead of hashing
 * every string into a dictionary of its own per row group. Readers see the same strings: an ENUM
 * is written as a dictionary-encoded string column. A column gets its type for the day when its
 * values (with the missing values and the label) number at most MAX_ENUM_VALUES, since every row
 * group then carries the whole dictionary; above that it is written as before. The channel's type is made from
 * `day_channels`.
 */
export const ENUM_COLUMNS: readonly string[] = ['site_id', ...LABELLED_COLUMNS.map((c) => c.column), 'channel'];
export const MAX_ENUM_VALUES = 4096;
/**
 * The day's ENUM of a column: the type the job made, and which of the values that stand for a
 * missing one (NULL included; MISSING_VALUES) the day's rows hold, so labelSql looks for those only.
 */
export interface DayEnum {
  type: string;
  missing: readonly (string | null)[];
}
/** Column → its day's ENUM (ENUM_COLUMNS); a column absent stays a string. */
export type DayEnums = ReadonlyMap<string, DayEnum>;

/** `day_values`: the distinct lake values of site_id and of each labelled column among the day's rows (NULL included), from `day_distinct`. */
export const DAY_VALUES_SQL = `CREATE OR REPLACE TEMP TABLE day_values AS
  SELECT ${VALUE_COLUMNS.map((c) => `list(DISTINCT CAST(${c.lake} AS VARCHAR)) FILTER (WHERE g = ${groupingId([c.lake])}) AS ${c.column}`).join(', ')}
  FROM day_distinct`;

/**
 * The values of the day's ENUM for `column`: its distinct lake values, the values that stand for a
 * missing one and the missing label (labelSql labels the enum values). The channel's are the
 * rules' outputs in `day_channels`. The file's dictionary then also lists `''` (and `unknown` for
 * the device) where no row holds it; readers see only rows' values.
 */
export function enumValuesSql(column: string): string {
  if (column === 'channel') return 'SELECT DISTINCT channel AS v FROM day_channels WHERE channel IS NOT NULL';
  if (column === 'site_id') return 'SELECT DISTINCT v FROM (SELECT unnest(site_id) AS v FROM day_values) WHERE v IS NOT NULL';
  const c = LABELLED_COLUMNS.find((e) => e.column === column);
  if (!c) throw new Error(`no ENUM column ${column}`);
  const extra = c.dimension ? [...MISSING_VALUES[c.dimension], MISSING_LABEL[c.dimension]] : [];
  return `SELECT DISTINCT v FROM (SELECT unnest(${c.column}) AS v FROM day_values ${extra.map((v) => `UNION ALL SELECT ${sqlLiteral(v)}`).join(' ')}) WHERE v IS NOT NULL`;
}

/**
 * What the job needs to know of each column's ENUM before making it, in one row (one statement a
 * day instead of one per column): how many values it would hold (`n<i>` for `columns[i]`,
 * enumValuesSql) and which values standing for a missing one (NULL included) the day's rows hold
 * (`m<i>`, a list; none for the channel, which the rules always name).
 */
export function enumFactsSql(columns: readonly string[]): string {
  return `SELECT ${columns
    .map((column, i) => {
      const c = LABELLED_COLUMNS.find((e) => e.column === column);
      const missing = c?.dimension ? MISSING_VALUES[c.dimension] : [];
      const present = column === 'channel' ? '[]::VARCHAR[]' : `(SELECT list_filter(${column}, x -> x IS NULL${missing.map((v) => ` OR x = ${sqlLiteral(v)}`).join('')}) FROM day_values)`;
      return `(SELECT count(*) FROM (${enumValuesSql(column)})) AS n${i}, ${present} AS m${i}`;
    })
    .join(', ')}`;
}

/** The day's events in view form when `dup` is empty: every event id occurs once. */
export function dayEventsUniqueSql(enums: DayEnums): string {
  return `SELECT ${EVENTS_COLUMNS} FROM (${viewRowsSql(LAKE_SCAN, enums)})`;
}

/**
 * The day's deduplicated events in view form (one row per event id, the earliest received kept;
 * the file and row break the last ties so a re-run keeps the same row).
 */
export function dayEventsSql(enums: DayEnums): string {
  return `SELECT ${EVENTS_COLUMNS} FROM (${viewRowsSql(LAKE_SCAN, enums)}) AS e
    WHERE hash(event_id) NOT IN (SELECT h FROM dup)
  UNION ALL
  SELECT ${EVENTS_COLUMNS} FROM (
    SELECT DISTINCT ON (event_id) * FROM (${viewRowsSql('read_parquet($files, union_by_name = true, hive_partitioning = false, file_row_number = true)', enums, ', filename AS file, file_row_number AS file_row')}) AS d
    WHERE hash(event_id) IN (SELECT h FROM dup)
    ORDER BY event_id, received_time, event_time, CAST(site_id AS VARCHAR), session_id, file, file_row
  )`;
}

/** The four columns visits are cut on (visitProjection) and `extra`, from the lake files `files` (a parameter), rows where `where`. */
function visitRowsSql(files: string, where: string, enums: DayEnums, extra: string): string {
  return `SELECT ${visitProjection(enums)}${extra} FROM read_parquet(${files}, union_by_name = true, hive_partitioning = false) WHERE ${where}`;
}

/**
 * The columns dayMinutesSql counts from besides the four of visitProjection: the event type as three
 * flags (page view, custom event, purchase; `is(t)` says whether the row is of type `t`) and the
 * revenue.
 */
function typeFlagsSql(is: (type: string) => string, revenue: string): string {
  return `, ${is('pageview')} AS is_pv, ${is('custom')} AS is_ce, ${is('purchase')} AS is_pu, ${revenue} AS revenue_micros`;
}
/** typeFlagsSql of lake rows: each flag worked out once per value of a Parquet dictionary (perDictionaryValue), not once per row. */
const LAKE_TYPE_FLAGS = typeFlagsSql((t) => perDictionaryValue('type', (x) => `coalesce(CAST(${x} AS VARCHAR) = '${t}', false)`), 'CAST(revenue_micros AS BIGINT)');
/** typeFlagsSql of the previous day's rows, which only cut visits: nothing of them is counted. */
const NO_TYPE_FLAGS = typeFlagsSql(() => 'false', 'NULL::BIGINT');

/**
 * `day_minutes`: one row per site × visitor × bot flag × minute of the day's events (counts,
 * purchase revenue, first and last event), and of the previous day's lake rows in
 * [$prev_start, $start) (`withTail`, from `$prev_files`; their counts are not used). Visits are cut
 * on these rows (VISIT_MINUTES_SQL) and they become the session minutes (SESSION_MINUTES_SQL): while
 * SESSION_IDLE_TIMEOUT is at least a minute (the config's floor), no gap between two events of one
 * minute can end a visit, so a visitor's minute lies in one visit, and the gap between two of its
 * minutes is the first event of the later one less the last event of the earlier one. About 2M rows
 * on the 10M-event day: cutting visits and grouping session minutes on them, instead of on every
 * event (a list of each visitor's event times, then the day's events file read back and grouped on
 * its visit id strings), took the whole job 4–6% less time (alternating pairs; its CPU the same
 * within the noise: the rows are written to tables twice). When the day has no duplicate ids (`unique`)
 * the day's rows are read from the lake files directly; otherwise from the deduplicated rows
 * (`dayEvents`, a copy may carry another time). `enums` are the day's: the site takes its type
 * (visitProjection), so the events' join compares like with like.
 */
export function dayMinutesSql(dayEvents: string, withTail: boolean, unique: boolean, enums: DayEnums): string {
  const dayRows = unique
    ? visitRowsSql('$files', IN_DAY, enums, LAKE_TYPE_FLAGS)
    : `SELECT site_id, visitor_id, is_bot, event_time${typeFlagsSql((t) => `type = '${t}'`, 'revenue_micros')} FROM (${dayEvents})`;
  const tail = withTail ? `UNION ALL ${visitRowsSql('$prev_files', timeRangeSql('$prev_start', '$start'), enums, NO_TYPE_FLAGS)}` : '';
  return `CREATE OR REPLACE TEMP TABLE day_minutes AS
  SELECT site_id, visitor_id, is_bot, ${bucketExpr('minute')} AS bucket,
    count(*) FILTER (WHERE is_pv) AS pv, count(*) FILTER (WHERE is_ce) AS ce, count(*) FILTER (WHERE is_pu) AS pu,
    coalesce(sum(revenue_micros) FILTER (WHERE is_pu), 0) AS rev,
    epoch_ms(min(event_time)) AS first_ms, epoch_ms(max(event_time)) AS last_ms
  FROM (${dayRows} ${tail}) GROUP BY site_id, visitor_id, is_bot, bucket`;
}

/**
 * The day's events (`dayEvents`, one of the two statements above) with `session_id` replaced by
 * the server's visit (contract 9): each event joins its visitor minute in `visit_minutes` (a hash
 * join on site, visitor, bot flag and minute: exactly one row, which names the minute's visit).
 */
export function serverSessionsSql(dayEvents: string): string {
  const columns = EVENTS_COLUMNS.split(',')
    .map((c) => c.trim())
    .map((c) => (c === 'session_id' ? 'v.session_id' : `e.${c}`))
    .join(', ');
  return `SELECT ${columns} FROM (${dayEvents}) AS e JOIN visit_minutes AS v
    ON e.site_id = v.site_id AND e.visitor_id IS NOT DISTINCT FROM v.visitor_id AND e.is_bot = v.is_bot
      AND ${bucketExpr('minute', 'e.event_time')} = v.bucket`;
}

/**
 * `visit_minutes`: the day's rows of `day_minutes` (not the previous day's tail), each with its
 * server visit (contract 9, core/sessions.ts): the id's string `visitor@start-ms` (`session_id`,
 * for the events file) and a number (`visit`: the row number in `day_minutes` of the visit's first
 * minute), on which the hour and day rows group a visit's minutes (an integer key). A minute starts
 * a visit when it is the visitor's first or its first event is more than `$idle_ms` after the
 * previous minute's last; every minute takes the latest start at or before it. Two windows over
 * each visitor's minutes in time order do this (`lag`/`lead` for the gaps, then the running latest
 * start), on the cut's narrow columns: O(m log m) in a visitor's m minutes, however many visits
 * they hold. Before, each visitor's minutes were gathered into a sorted list and cut by list
 * lambdas, whose work grew with minutes times visits: 4.3–6.1 CPU-s against 3.4–3.9 on the
 * 10M-event day (5 alternating triples, user and system CPU of the whole job 27.1 against 25.9 s,
 * medians; the same views). A visit active without a pause for the whole previous day is named by
 * its first event of that day (a bound, not a case of real traffic). The site stays the day's ENUM,
 * for the events' join. `one` marks a minute that is its visit's only one among the day's minutes
 * (a bounce, most visits of the bench's traffic): its hour and day rows are its own, so sessionsOf
 * merges only the other minutes. `fh` (`fd`) marks the visitor's first minute of its hour (day),
 * so that the hour and day rollups count visitors as rows, without a distinct hash table of their
 * ids (whole hours and days of epoch milliseconds are UTC hours and days).
 * The cut's rows are joined back to `day_minutes` by row id, and the table keeps `day_minutes`'
 * order: the events file's join probes it in the lake's (time) order, and `day_minutes`, grouped
 * from that scan, holds each hash partition's minutes in about that order too. Written in the
 * windows' per-visitor order instead, the events file took 2.4 CPU-s more (cache misses). The job
 * runs it with DuckDB's join planning off (core/duckdb.ts runJoinsAsWritten), so that the join back
 * is built on the cut's narrow rows and `day_minutes` probes it in order: both sides hold 2M rows,
 * and built on `day_minutes` every row of the cut fetched its wide minute from a random place
 * (1.7 CPU-s on the 10M-event day against 0.55, and the table written in 1.15 against 0.4).
 * A table, not a TEMP one, so that the rollups' connection can read it.
 */
export const VISIT_MINUTES_SQL = (() => {
  // Whether a minute's first event lies in another UTC hour (day) than the visitor's previous minute's.
  const newPeriod = (ms: number) => `prev_first IS NULL OR first_ms // ${ms} <> prev_first // ${ms}`;
  const visitor = 'PARTITION BY site_id, visitor_id, is_bot ORDER BY first_ms';
  return `CREATE OR REPLACE TABLE visit_minutes AS
  WITH gaps AS (
    SELECT site_id, visitor_id, is_bot, first_ms, last_ms, rowid AS rid,
      lag(first_ms) OVER w AS prev_first, lag(last_ms) OVER w AS prev_last, lead(first_ms) OVER w AS next_first
    FROM day_minutes WINDOW w AS (${visitor})
  ), starts AS (
    SELECT *, prev_last IS NULL OR first_ms - prev_last > $idle_ms AS st FROM gaps
  ), cut AS (
    SELECT rid, last_value(CASE WHEN st THEN first_ms END IGNORE NULLS) OVER v AS start_ms, last_value(CASE WHEN st THEN rid END IGNORE NULLS) OVER v AS visit,
      st AND (next_first IS NULL OR next_first - last_ms > $idle_ms) AS one, ${newPeriod(3_600_000)} AS fh, ${newPeriod(86_400_000)} AS fd
    FROM starts WINDOW v AS (${visitor} ROWS UNBOUNDED PRECEDING)
  )
  SELECT m.site_id, m.bucket, c.visit, c.one, c.fh, c.fd, m.visitor_id || '@' || c.start_ms AS session_id,
    m.visitor_id, m.is_bot, m.pv, m.ce, m.pu, m.rev, m.first_ms, m.last_ms
  FROM (SELECT *, rowid AS rid FROM day_minutes) AS m JOIN cut AS c ON m.rid = c.rid
  WHERE m.bucket >= epoch_ms($start)`;
})();

/**
 * `session_minutes`, the first level of rollupSql at minute grain (per site × minute × session ×
 * bot flag, with the session's visitor: counts, revenue, first and last event), as a view of
 * `visit_minutes`: a visitor's minute is one session's (dayMinutesSql). Its `session_id` is the
 * visit's number, not the id's string; the site is text, so the rollups are ordered by its name.
 */
export const SESSION_MINUTES_SQL = `CREATE OR REPLACE VIEW session_minutes AS
  SELECT CAST(site_id AS VARCHAR) AS site_id, bucket, visit AS session_id, visitor_id, is_bot, pv, ce, pu, rev, first_ms, last_ms, one, fh, fd FROM visit_minutes`;

export const LAKE_STATS_SQL = `SELECT count(*) AS rows_read,
    count(*) FILTER (WHERE NOT (${timeRangeSql('$start', '$day_end')})) AS outside_day,
    count(*) FILTER (WHERE ${timeRangeSql('$end', '$day_end')}) AS after_until,
    count(*) FILTER (WHERE ${timeRangeSql('$start', '$end')} AND NOT (${NOT_ERASED})) AS erased
  FROM ${LAKE_SCAN}`;

/** DuckDB's date_trunc units: UTC buckets (a week is ISO, from Monday). */
export const GRAIN_UNIT: Record<Grain, string> = { minute: 'minute', hour: 'hour', day: 'day', week: 'week', month: 'month' };


/**
 * Two-level aggregation over `source` (a table expression with the events columns): first per
 * bucket × session, then per bucket. `bucketExpr` is a constant expression; `eventNameFilter`
 * restricts `events` to `$event_name`.
 */
export function rollupSql(source: string, bucketExpr: string, groupSite: boolean, eventNameFilter: boolean): string {
  const site = groupSite ? 'site_id, ' : '';
  const customFilter = eventNameFilter ? `type = 'custom' AND event_name = $event_name` : `type = 'custom'`;
  return `WITH l1 AS (
    SELECT ${site}${bucketExpr} AS bucket, session_id, visitor_id, is_bot,
      count(*) FILTER (WHERE type = 'pageview') AS pv,
      count(*) FILTER (WHERE ${customFilter}) AS ce,
      count(*) FILTER (WHERE type = 'purchase') AS pu,
      coalesce(sum(revenue_micros) FILTER (WHERE type = 'purchase' AND currency = $currency), 0) AS rev,
      epoch_ms(max(event_time)) - epoch_ms(min(event_time)) AS span_ms
    FROM ${source}
    GROUP BY ${site}bucket, session_id, visitor_id, is_bot
  )
  ${rollupMetricsSql('l1', site)}`;
}

/**
 * The second level: bucket metrics from per bucket × session rows (pv, ce, pu, rev, span_ms). A
 * server's visit id names one visitor (`visitor@start`), so each row is a distinct session of its
 * bucket and sessions are counted without a distinct hash table (a third of the rollups' CPU).
 * `visitorRow`, where given, marks one row of each visitor in its bucket (sessionRollupSql), and
 * the visitors are counted the same way.
 */
function rollupMetricsSql(sessions: string, site: string, visitorRow?: string): string {
  return `SELECT ${site}bucket,
    coalesce(sum(pv) FILTER (WHERE NOT is_bot), 0)::BIGINT AS pageviews,
    ${visitorRow ? `count(visitor_id) FILTER (WHERE NOT is_bot AND ${visitorRow})` : 'count(DISTINCT visitor_id) FILTER (WHERE NOT is_bot)'} AS visitors,
    count(session_id) FILTER (WHERE NOT is_bot) AS sessions,
    coalesce(sum(ce) FILTER (WHERE NOT is_bot), 0)::BIGINT AS events,
    coalesce(sum(pu) FILTER (WHERE NOT is_bot), 0)::BIGINT AS purchases,
    coalesce(sum(rev) FILTER (WHERE NOT is_bot), 0)::BIGINT AS revenue_micros,
    count(*) FILTER (WHERE NOT is_bot AND pv <= 1) AS bounces,
    coalesce(sum(span_ms) FILTER (WHERE NOT is_bot), 0)::BIGINT AS duration_ms,
    coalesce(sum(pv) FILTER (WHERE is_bot), 0)::BIGINT AS bot_pageviews
  FROM ${sessions} GROUP BY ${site}bucket`;
}

/**
 * The epoch milliseconds of the start of `column`'s bucket of `grain` (UTC). A minute is taken in
 * integer arithmetic (minuteFloorSql), the other grains by date_trunc.
 */
export function bucketExpr(grain: Grain, column = 'event_time'): string {
  return grain === 'minute' ? minuteFloorSql(column) : `epoch_ms(date_trunc('${GRAIN_UNIT[grain]}', ${column}))`;
}

/**
 * Whole days of milliseconds added before a floor division and taken off after it, so that the
 * division floors for times before 1970 too (`//` truncates toward zero); 2·10⁸ days reach past
 * DuckDB's earliest TIMESTAMP, and its latest plus them stays far below 2⁶³.
 */
const FLOOR_SHIFT_MS = 86_400_000 * 200_000_000;

/**
 * The start of a time's minute by a floor division of its epoch milliseconds: the same as
 * date_trunc's, in about half the CPU (the job takes it of every event twice, for the visitor
 * minutes and for the events' join to them: about 0.3 CPU-s of the 10M-event day).
 */
function minuteFloorSql(column: string): string {
  return `((epoch_ms(${column}) + ${FLOOR_SHIFT_MS}) // 60000 * 60000 - ${FLOOR_SHIFT_MS})`;
}


/**
 * Per-value metrics of one dimension over `source` (pageviews are not event names). Revenue sums
 * the reporting currency `$currency` only, except by currency, where each row is its own currency's.
 */
export function breakdownSql(source: string, dimension: AnyDimension, groupSite: boolean): string {
  const col = columnSql(dimension);
  const site = groupSite ? 'site_id, ' : '';
  const where = dimension === 'event_name' ? `WHERE type <> 'pageview'` : '';
  const inCurrency = dimension === 'currency' ? '' : ' AND currency = $currency';
  return `SELECT ${site}${sqlLiteral(dimension)} AS dimension, ${col} AS value,
      count(*) FILTER (WHERE type = 'pageview' AND NOT is_bot) AS pageviews,
      count(DISTINCT visitor_id) FILTER (WHERE NOT is_bot) AS visitors,
      count(*) FILTER (WHERE type = 'custom' AND NOT is_bot) AS events,
      coalesce(sum(revenue_micros) FILTER (WHERE type = 'purchase' AND NOT is_bot${inCurrency}), 0)::BIGINT AS revenue_micros
    FROM ${source} ${where} GROUP BY ${site}${col}`;
}

/**
 * Per-combination metrics of several dimensions over `source` (breakdownSql's definitions), the
 * values as columns v0, v1…; revenue in `$currency` unless a dimension is the currency.
 */
export function multiBreakdownSql(source: string, dimensions: readonly AnyDimension[]): string {
  const cols = dimensions.map(columnSql);
  const where = dimensions.includes('event_name') ? `WHERE type <> 'pageview'` : '';
  const inCurrency = dimensions.includes('currency') ? '' : ' AND currency = $currency';
  return `SELECT ${cols.map((c, i) => `${c} AS v${i}`).join(', ')},
      count(*) FILTER (WHERE type = 'pageview' AND NOT is_bot) AS pageviews,
      count(DISTINCT visitor_id) FILTER (WHERE NOT is_bot) AS visitors,
      count(*) FILTER (WHERE type = 'custom' AND NOT is_bot) AS events,
      coalesce(sum(revenue_micros) FILTER (WHERE type = 'purchase' AND NOT is_bot${inCurrency}), 0)::BIGINT AS revenue_micros
    FROM ${source} ${where} GROUP BY ALL`;
}

/*
 * The job's way to the same rollups and breakdowns with one aggregation of the day's events each
 * instead of one per grain and per dimension. Both compute the definitions above from exact
 * partial aggregates:
 * - `session_minutes` is the first level of rollupSql at minute grain; an hour's (or day's) row
 *   of a session merges its minutes' rows (counts and revenue add up, the span runs from the
 *   first to the last event), so only smaller aggregations run per grain;
 * - `visitor_dimensions` counts events per visitor × type × every dimension value; a breakdown
 *   sums those counts, and its distinct visitors are distinct over far fewer rows. The job runs
 *   one statement per dimension into `day_dims` (its columns, DAY_DIMS_TABLE_SQL) so that both
 *   of its connections can share the dimensions out.
 */

/**
 * The per-session rows of a grain as a table expression: `session_minutes` itself, or an hour's
 * (day's) row per session: a visit's only minute (`one`) as it is, the other minutes merged per
 * visit; `first` (VISIT_MINUTES_SQL's `fh` or `fd`) says whether the row holds the visitor's first
 * minute of the bucket. Passing the one-minute visits by took the hour rollup 0.9–1.0 against
 * 1.3–1.5 s of one thread on the 10M-event day and the day rollup 0.6 against 1.2–1.3 (90% of its
 * visitor minutes are such visits), the same rows.
 */
function sessionsOf(grain: 'hour' | 'day'): string {
  const bucket = `epoch_ms(date_trunc('${GRAIN_UNIT[grain]}', epoch_ms(bucket)))`;
  const first = grain === 'hour' ? 'fh' : 'fd';
  // Grouped without visitor_id, which the visit id determines: a narrower key to hash.
  return `(SELECT site_id, ${bucket} AS bucket, session_id, visitor_id, is_bot, pv, ce, pu, rev, first_ms, last_ms, ${first} AS first FROM session_minutes WHERE one
    UNION ALL
    SELECT site_id, bucket, session_id, any_value(visitor_id) AS visitor_id, is_bot,
      sum(pv) AS pv, sum(ce) AS ce, sum(pu) AS pu, sum(rev) AS rev, min(first_ms) AS first_ms, max(last_ms) AS last_ms, bool_or(${first}) AS first
    FROM (SELECT * REPLACE (${bucket} AS bucket) FROM session_minutes WHERE NOT one)
    GROUP BY site_id, bucket, session_id, is_bot)`;
}

/**
 * Per-site rollup rows of a grain from `session_minutes`; equal to rollupSql over the events. A
 * visitor's minute lies in one visit, so each minute row is its visitor's only one in the bucket;
 * an hour's or day's visitor is counted on the row that holds its first minute of the bucket.
 */
export function sessionRollupSql(grain: 'minute' | 'hour' | 'day'): string {
  const [sessions, visitorRow] = grain === 'minute' ? ['session_minutes', 'true'] : [sessionsOf(grain), 'first'];
  return rollupMetricsSql(`(SELECT *, last_ms - first_ms AS span_ms FROM ${sessions})`, 'site_id, ', visitorRow);
}

const DIMENSION_LIST = Object.values(DIMENSION_COLUMNS).join(', ');

/**
 * The visitors' key in `visitor_dimensions` when no two of a site's visitors of the day share it
 * (visitorKeyClashesSql): the id's 64-bit hash, NULL for a missing id as the id itself. The 14
 * breakdowns count distinct visitors; on integers instead of strings they took 2.2–2.3 against
 * 2.8–2.9 CPU-s on the 10M-event day (one thread, the same rows), and the check 0.13.
 */
export const VISITOR_HASH_SQL = 'CASE WHEN visitor_id IS NOT NULL THEN hash(visitor_id) END';

/**
 * How many sites have two of the day's non-bot visitors with the same `key` (an expression of
 * `visitor_id`): none, and a breakdown's distinct count of keys is its exact count of visitors. Read
 * from `visit_minutes`, one row per site × visitor × bot flag with `fd` (its first minute of the
 * day): the same visitors as the day's events file holds.
 */
export function visitorKeyClashesSql(key: string): string {
  return `SELECT count(*) AS n FROM (SELECT site_id FROM visit_minutes WHERE fd AND NOT is_bot
    GROUP BY site_id HAVING count(visitor_id) <> count(DISTINCT ${key}))`;
}

/**
 * `visitor_dimensions`: the non-bot events per site × visitor × every dimension's value, with how many
 * of them are page views (`pv`), custom events (`ce`) and not page views (`np`), and their
 * purchase revenue, from which each dimension's breakdown is summed (bots count in no breakdown).
 * The event type is a count here, not a key, so each breakdown sums columns instead of filtering
 * every row on the type (0.1–0.3 s less per dimension on the 10M-event day). The visitor is `key`:
 * the id, or an expression of it that tells the day's visitors apart (VISITOR_HASH_SQL). A table,
 * not a TEMP one, so that every connection of the job's DuckDB instance can read it (the job drops it).
 */
export function visitorDimensionsSql(source: string, key = 'visitor_id'): string {
  return `CREATE OR REPLACE TABLE visitor_dimensions AS
    SELECT site_id, ${key} AS visitor_id, ${DIMENSION_LIST},
      count(*) FILTER (WHERE type = 'pageview') AS pv, count(*) FILTER (WHERE type = 'custom') AS ce,
      count(*) FILTER (WHERE type <> 'pageview') AS np, sum(revenue_micros) FILTER (WHERE type = 'purchase') AS rev
    FROM ${source} WHERE NOT is_bot GROUP BY ALL`;
}

/**
 * The day's events file (`source`, a table expression) with the columns that have a day's ENUM
 * (ENUM_COLUMNS) read back as that type, each cast once per dictionary value (perDictionaryValue):
 * the file writes those columns dictionary-encoded, so an aggregation keyed on them hashes and
 * compares small integers instead of strings. On the 10M-event day, `visitor_dimensions` from it
 * took 2.3–2.8 against 3.2–4.8 CPU-s and the 14 breakdowns 2.5 against 3.4–3.6 (one thread, the
 * same rows). A CAST, not a TRY_CAST: the file's dictionaries are the types' own values. The job
 * drops the types after the breakdowns.
 */
export function dayEnumRowsSql(source: string, enums: DayEnums): string {
  const casts = [...enums].map(([column, e]) => `${perDictionaryValue(column, (x) => `CAST(${x} AS ${e.type})`)} AS ${column}`);
  return casts.length ? `(SELECT * REPLACE (${casts.join(', ')}) FROM ${source})` : source;
}

/** The columns of a per-day breakdown row, as the `dims` view holds them. */
export const DAY_DIMS_TABLE_SQL = `CREATE OR REPLACE TABLE day_dims (site_id VARCHAR, dimension VARCHAR, value VARCHAR,
  pageviews BIGINT, visitors BIGINT, events BIGINT, revenue_micros BIGINT)`;

/**
 * One dimension's per-site breakdown rows from `visitor_dimensions`, equal to breakdownSql over the
 * events: by event name only the events that are not page views count (so no page views).
 */
export function visitorBreakdownSql(dimension: Dimension): string {
  const col = DIMENSION_COLUMNS[dimension];
  const byName = dimension === 'event_name';
  return `SELECT site_id, '${dimension}' AS dimension, ${col} AS value,
      ${byName ? '0' : 'coalesce(sum(pv), 0)'}::BIGINT AS pageviews,
      count(DISTINCT visitor_id) AS visitors,
      coalesce(sum(ce), 0)::BIGINT AS events,
      coalesce(sum(rev), 0)::BIGINT AS revenue_micros
    FROM visitor_dimensions ${byName ? 'WHERE np > 0' : ''} GROUP BY site_id, ${col}`;
}
