/**
 * Filters of the API: `[operator, dimension, values]` clauses (Plausible Stats API v2 style) with
 * the operators is, is_not, contains and contains_not and several values each (ORed), clauses
 * ANDed. Every value is checked against the shape its dimension can have (a whole value for is /
 * is_not, a fragment of one for contains), so a typo is a 400 naming it, never a silent empty row;
 * the stores bind or quote what passes. A single-valued `is` becomes an equality filter, the form
 * every store has a fast path for; everything else travels as a FilterCondition.
 */
import { DIMENSIONS, FILTER_OPERATORS, isPropDimension, isVisitPageDimension, MISSING_LABEL, MISSING_PROPERTY_LABEL, propKeyOf, type AnyDimension, type Dimension, type FilterCondition, type FilterOperator, type Filters } from '../core/views.ts';
import { CHANNELS } from '../core/channels.ts';
import { badRequest } from './api.errors.ts';

/** Plausible's prefixed names map onto ours; bare names work too. */
const DIMENSION_ALIASES: Record<string, Dimension> = {
  'event:page': 'page',
  'event:name': 'event_name',
  'visit:source': 'referrer',
  'visit:referrer': 'referrer',
  'visit:country': 'country',
  'visit:device': 'device',
  'visit:browser': 'browser',
  'visit:os': 'os',
  'visit:utm_source': 'utm_source',
  'visit:utm_medium': 'utm_medium',
  'visit:utm_campaign': 'utm_campaign',
  'visit:utm_term': 'utm_term',
  'visit:utm_content': 'utm_content',
  'visit:channel': 'channel',
};

/**
 * A UTM medium, campaign, term or content: whatever a link's author wrote (a search term has
 * spaces, `+` arrives as a space), so any printable text up to 256 characters but quotes, backticks,
 * semicolons, angle brackets, backslashes and braces.
 */
const UTM_TEXT = { re: /^[^\p{Cc}'"`;<>\\{}]{1,256}$/u, expected: 'UTM text such as spring-sale (no quotes, semicolons, < > \\ { } or control characters)' };
const UTM_FRAGMENT = /^[^\p{Cc}'"`;<>\\{}]{1,256}$/u;

/** Channel names as the rule table spells them, by their lower-case form: a filter may write `organic search`. */
const CHANNEL_NAMES = new Map<string, string>(CHANNELS.map((c) => [c.toLowerCase(), c]));

const FILTER_SHAPES: Record<Dimension, { re: RegExp; expected: string }> = {
  page: { re: /^\/[^\s'"`;<>\\{}]{0,1023}$/, expected: 'a URL path starting with / (no spaces, quotes or semicolons)' },
  referrer: { re: /^(\(direct\)|[a-z0-9.-]{1,253})$/i, expected: 'a host name such as www.google.com, or (direct)' },
  country: { re: /^([A-Z]{2}|\(unknown\))$/, expected: 'a two-letter country code such as DE' },
  device: { re: /^(desktop|mobile|tablet|bot)$/, expected: 'one of desktop, mobile, tablet, bot' },
  browser: { re: /^[A-Za-z0-9 ._()-]{1,64}$/, expected: 'a browser name such as Chrome (letters, digits, spaces, . _ - ( ))' },
  os: { re: /^[A-Za-z0-9 ._()-]{1,64}$/, expected: 'an OS name such as Android (letters, digits, spaces, . _ - ( ))' },
  utm_source: { re: /^[A-Za-z0-9._~+-]{1,128}$|^\(none\)$/, expected: 'a UTM source such as newsletter (letters, digits, . _ ~ + -)' },
  utm_medium: UTM_TEXT,
  utm_campaign: UTM_TEXT,
  utm_term: UTM_TEXT,
  utm_content: UTM_TEXT,
  channel: { re: new RegExp(`^(${CHANNELS.join('|')})$`), expected: `a channel: one of ${CHANNELS.join(', ')}` },
  event_name: { re: /^[A-Za-z0-9 _.:-]{1,64}$/, expected: 'an event name such as signup (letters, digits, spaces, _ . : -)' },
  currency: { re: /^([A-Z]{3}|\(none\))$/, expected: 'an ISO 4217 code such as EUR, or (none)' },
};

/** What a `contains` value may hold per dimension: a non-empty piece of a value or of its missing label. */
const FRAGMENT_SHAPES: Record<Dimension, RegExp> = {
  page: /^[^\s'"`;<>\\{}]{1,1024}$/,
  referrer: /^[A-Za-z0-9.()-]{1,253}$/,
  country: /^[A-Za-z()]{1,9}$/,
  device: /^[a-z()]{1,9}$/,
  browser: /^[A-Za-z0-9 ._()-]{1,64}$/,
  os: /^[A-Za-z0-9 ._()-]{1,64}$/,
  utm_source: /^[A-Za-z0-9._~+()-]{1,128}$/,
  utm_medium: UTM_FRAGMENT,
  utm_campaign: UTM_FRAGMENT,
  utm_term: UTM_FRAGMENT,
  utm_content: UTM_FRAGMENT,
  channel: /^[A-Za-z -]{1,32}$/,
  event_name: /^[A-Za-z0-9 _.:()-]{1,64}$/,
  currency: /^[A-Za-z()]{1,6}$/,
};

/** A UTF-16 surrogate without its pair. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Names of a custom property dimension: `event:props:<key>` (Plausible's), or `props:<key>`. */
const PROPERTY_PREFIXES = ['event:props:', 'props:'];

/** A custom property's value: whatever the collector kept (up to 1,000 characters), but control characters. */
const PROPERTY_VALUE = /^[^\p{Cc}]{1,1000}$/u;

/**
 * A dimension by its API name; a custom property (`event:props:<key>`) must be one of the site's
 * listed `properties` (core/sites.ts): another key is a 400 naming it.
 */
export function parseDimension(name: string, what = 'dimension', properties: readonly string[] = []): AnyDimension {
  const prefix = PROPERTY_PREFIXES.find((p) => name.startsWith(p));
  if (prefix !== undefined) {
    const key = name.slice(prefix.length);
    if (!properties.includes(key)) {
      throw badRequest(`${what} "${name.slice(0, 120)}": "${key.slice(0, 100)}" is not a custom property of this site (${properties.length ? `it lists ${properties.join(', ')}` : 'it lists none'}; add it to the site's "properties" in the sites file, or with twinlane sites property add)`);
    }
    return `prop:${key}`;
  }
  const visitPage = /^(?:visit:)?(entry|exit)_page$/.exec(name);
  if (visitPage) return visitPage[1] === 'entry' ? 'entry_page' : 'exit_page';
  return parseFixedDimension(name, what);
}

/** A fixed dimension by its API name (no custom property). */
export function parseFixedDimension(name: string, what = 'dimension'): Dimension {
  const d = DIMENSION_ALIASES[name] ?? name;
  if (/^(visit:)?(entry|exit)_page$/.test(name)) throw badRequest(`${what} "${name}": entry and exit pages stand alone`);
  if (!(DIMENSIONS as readonly string[]).includes(d)) throw badRequest(`${what} "${name.slice(0, 64)}" is unknown; expected one of ${DIMENSIONS.join(', ')}`);
  return d as Dimension;
}

export function validateFilter(anyDimension: AnyDimension, raw: string): string {
  // A visit's entry or exit page is a page, checked as one.
  const dimension = isVisitPageDimension(anyDimension) ? 'page' : anyDimension;
  if (isPropDimension(dimension)) {
    if (raw === MISSING_PROPERTY_LABEL || PROPERTY_VALUE.test(raw)) return raw;
    throw badRequest(`filter ${anyDimension}=${JSON.stringify(raw.slice(0, 100))} is not valid: expected a property value (1 to 1,000 characters, no control characters), or ${MISSING_PROPERTY_LABEL} for events without it`);
  }
  // Every store names a missing value (no country, no UTM source...) by the contract's label.
  if (raw === MISSING_LABEL[dimension]) return raw;
  const value = dimension === 'country' ? raw.toUpperCase() : dimension === 'channel' ? (CHANNEL_NAMES.get(raw.toLowerCase()) ?? raw) : raw;
  const shape = FILTER_SHAPES[dimension];
  if (!shape.re.test(value)) throw badRequest(`filter ${anyDimension}=${JSON.stringify(raw.slice(0, 100))} is not valid: expected ${shape.expected}, or ${MISSING_LABEL[dimension]} for a missing value`);
  return value;
}

/** A `contains` value: a fragment of what the dimension holds; an empty one would match everything. */
export function validateFragment(anyDimension: AnyDimension, raw: string): string {
  const dimension = isVisitPageDimension(anyDimension) ? 'page' : anyDimension;
  const value = raw;
  if (raw === '') throw badRequest(`filter ${anyDimension} contains "": an empty value would match everything`);
  if (isPropDimension(dimension)) {
    if (!PROPERTY_VALUE.test(raw)) throw badRequest(`filter ${anyDimension} contains ${JSON.stringify(raw.slice(0, 100))} is not valid: expected a piece of a property value (no control characters, at most 1,000)`);
    return value;
  }
  if (!FRAGMENT_SHAPES[dimension].test(value)) throw badRequest(`filter ${anyDimension} contains ${JSON.stringify(raw.slice(0, 100))} is not valid: expected a piece of ${FILTER_SHAPES[dimension].expected}`);
  return value;
}

export interface FilterLimits {
  /** Most clauses of one query (segment included). */
  maxFilters: number;
  /** Most values of one clause. */
  maxFilterValues: number;
}

/** One clause as the API takes it: `[operator, dimension, value or values]`. */
export type FilterClause = readonly [string, string, string | readonly string[]];

export interface ParsedFilters {
  filters: Filters;
  conditions: FilterCondition[];
}

/** Validates clauses and splits them into equality filters and conditions; `what` names their origin in errors. */
export function parseFilterClauses(clauses: readonly FilterClause[], limits: FilterLimits, into: ParsedFilters = { filters: {}, conditions: [] }, what = 'filter', properties: readonly string[] = []): ParsedFilters {
  if (clauses.length + Object.keys(into.filters).length + into.conditions.length > limits.maxFilters) throw badRequest(`${what}s: at most ${limits.maxFilters} filter clauses in one query`);
  for (const [op, dim, raw] of clauses) {
    if (!(FILTER_OPERATORS as readonly string[]).includes(op)) throw badRequest(`${what} operator "${String(op).slice(0, 40)}" is unknown; expected one of ${FILTER_OPERATORS.join(', ')}`);
    const dimension = parseDimension(dim, `${what} dimension`, properties);
    const list = typeof raw === 'string' ? [raw] : raw;
    if (list.length === 0) throw badRequest(`${what} ${op} on ${dimension}: give at least one value`);
    if (list.length > limits.maxFilterValues) throw badRequest(`${what} ${op} on ${dimension}: at most ${limits.maxFilterValues} values (got ${list.length})`);
    // A lone UTF-16 surrogate has no UTF-8 form: no store could hold it, and one would read it as another value.
    const broken = list.find((v) => typeof v === 'string' && LONE_SURROGATE.test(v));
    if (broken !== undefined) throw badRequest(`${what} ${op} on ${apiDimensionName(dimension)}: ${JSON.stringify(broken.slice(0, 100))} holds a lone surrogate (not text)`);
    const contains = op === 'contains' || op === 'contains_not';
    const values = [...new Set(list.map((v) => (contains ? validateFragment(dimension, v) : validateFilter(dimension, v))))];
    // Equality filters are the fixed dimensions' fast path; a property or a visit's page always travels as a condition.
    if (op === 'is' && values.length === 1 && !isPropDimension(dimension) && !isVisitPageDimension(dimension) && into.filters[dimension] === undefined) into.filters[dimension] = values[0]!;
    else into.conditions.push({ op: op as FilterOperator, dimension, values });
  }
  return into;
}

/** The clauses of a filter set, equality filters first: how an answer echoes what it was filtered by. */
export function clausesOf(p: ParsedFilters): [FilterOperator, string, string[]][] {
  return [...Object.entries(p.filters).map(([d, v]) => ['is', d, [v!]] as [FilterOperator, string, string[]]), ...p.conditions.map((c) => [c.op, apiDimensionName(c.dimension), [...c.values]] as [FilterOperator, string, string[]])];
}

/**
 * The `filters` parameter of a GET alias: the body's JSON array of clauses
 * (`filters=[["contains","page",["/blog"]]]`), checked like the body's.
 */
/** How an answer names a dimension: a custom property as `event:props:<key>`, a fixed one by its name. */
export function apiDimensionName(d: AnyDimension): string {
  if (isVisitPageDimension(d)) return `visit:${d}`;
  return isPropDimension(d) ? `event:props:${propKeyOf(d)}` : d;
}

export function parseFiltersParam(text: string | undefined, limits: FilterLimits, into?: ParsedFilters, properties: readonly string[] = []): ParsedFilters {
  const out = into ?? { filters: {}, conditions: [] };
  if (text === undefined || text === '') return out;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badRequest(`filters=${JSON.stringify(text.slice(0, 60))} is not JSON: expected an array of [operator, dimension, [values]] clauses`);
  }
  if (!Array.isArray(json) || !json.every(isClause)) throw badRequest('filters: expected an array of [operator, dimension, value or [values]] clauses, each a string');
  return parseFilterClauses(json, limits, out, 'filter', properties);
}

function isClause(c: unknown): c is FilterClause {
  return Array.isArray(c) && c.length === 3 && typeof c[0] === 'string' && typeof c[1] === 'string' && (typeof c[2] === 'string' || (Array.isArray(c[2]) && c[2].every((v: unknown) => typeof v === 'string')));
}
