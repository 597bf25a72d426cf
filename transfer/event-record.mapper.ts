/**
 * One record of our importable event shape (transfer/README.md: the lake row's field names) →
 * the stored event, through the collector's own code: `validateEvent` (ingest/event.validator.ts)
 * checks the client fields, `EventEnricher` (ingest/event.enricher.ts) derives URL parts and UTM
 * tags, parses a user agent, and redacts PII exactly as for live traffic, and the Avro schema
 * check is the codec's. The clock-skew window is not applied: imports are history (contract 9),
 * so the received time is the event's own unless the record says otherwise.
 *
 * Enriched fields a record brings (country, device, browser, OS, bot flag) are kept; only what is
 * missing is enriched. Derived fields (path, hostname, referrer_host, utm_*) are recomputed from
 * the URL and referrer, so an export imported again derives the same values.
 */
import { createHash } from 'node:crypto';
import type { DeadLetterCode, Stage } from '../dlq/index.ts';
import { parseTs, validateEvent, type EventEnricher } from '../ingest/index.ts';
import type { EventCodec, TwinlaneEvent } from '../schemas/index.ts';
import type { Sites } from '../core/sites.ts';

/** Fields of the importable shape; anything else is refused like an unknown field of the collector. */
export const IMPORT_FIELDS = [
  'event_id', 'site_id', 'type', 'name', 'event_time', 'received_time', 'visitor_id', 'session_id', 'url', 'referrer', 'title',
  'properties', 'revenue', 'revenue_micros', 'currency', 'screen_width', 'country', 'device_type', 'browser', 'os', 'is_bot', 'user_agent', 'ip_hash', 'time_adjusted',
  // Derived from url/referrer again; accepted so a raw export imports as it is.
  'path', 'hostname', 'referrer_host', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content',
] as const;
const KNOWN = new Set<string>(IMPORT_FIELDS);

/** The collector's field names in validation messages, told in the import shape's names. */
const RENAMED: Record<string, string> = { id: 'event_id', ts: 'event_time', visitor: 'visitor_id', session: 'session_id', props: 'properties' };

export type Mapped =
  | { kind: 'ok'; event: TwinlaneEvent }
  | { kind: 'dead-letter'; stage: Stage; code: DeadLetterCode; message: string; field?: string };

export interface RecordMapperDeps {
  sites: Sites;
  enricher: EventEnricher;
  /** Its Avro type checks the finished event (no registry needed: nothing is encoded). */
  codec: Pick<EventCodec, 'type' | 'invalidPaths'>;
  /** Site of records that name none (`--site`). */
  defaultSite?: string;
  /** Seeds the event id of a record without one, so a re-import or a resume gives the same id. */
  importId: string;
}

const bad = (code: DeadLetterCode, field: string, message: string, stage: Stage = 'validate'): Mapped => ({ kind: 'dead-letter', stage, code, message: `${field}: ${message}`, field });

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** A UUID-shaped id from (import id, row): stable across runs of the same import. */
export function importEventId(importId: string, row: number): string {
  const h = createHash('sha256').update(`${importId}\0${row}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function shortText(r: Record<string, unknown>, field: string, max: number): Mapped | string | null {
  const v = r[field];
  if (!present(v)) return null;
  if (typeof v !== 'string') return bad('SCHEMA_VIOLATION', field, `expected string, got ${typeof v}`);
  if (v.length > max) return bad('SIZE_VIOLATION', field, `longer than ${max} characters`);
  if (v.includes('\u0000')) return bad('SCHEMA_VIOLATION', field, 'contains a NUL character');
  return v;
}

function flag(r: Record<string, unknown>, field: string): Mapped | boolean | null {
  const v = r[field];
  if (!present(v)) return null;
  return typeof v === 'boolean' ? v : bad('SCHEMA_VIOLATION', field, `expected true or false, got ${typeof v}`);
}

/** The record's fields in the collector's public event JSON (what validateEvent checks). */
function publicEvent(r: Record<string, unknown>, id: string): Record<string, unknown> | Mapped {
  const out: Record<string, unknown> = { id, type: r.type, ts: r.event_time, url: r.url };
  if (present(r.name)) out.name = r.name;
  if (present(r.visitor_id)) out.visitor = r.visitor_id;
  if (present(r.session_id)) out.session = r.session_id;
  if (present(r.referrer)) out.referrer = r.referrer;
  if (present(r.title)) out.title = r.title;
  if (present(r.properties)) out.props = r.properties;
  if (present(r.currency)) out.currency = r.currency;
  if (present(r.screen_width)) out.screen_width = r.screen_width;
  if (present(r.revenue) && present(r.revenue_micros)) return bad('SCHEMA_VIOLATION', 'revenue', 'give revenue or revenue_micros, not both');
  if (present(r.revenue)) out.revenue = r.revenue;
  else if (present(r.revenue_micros)) {
    const m = r.revenue_micros;
    if (typeof m !== 'number' || !Number.isSafeInteger(m)) return bad('SCHEMA_VIOLATION', 'revenue_micros', 'expected a whole number of micro-units');
    out.revenue = m / 1_000_000;
  }
  return out;
}

export class EventRecordMapper {
  constructor(private readonly deps: RecordMapperDeps) {}

  map(record: Record<string, unknown>, row: number): Mapped {
    for (const key in record) if (!KNOWN.has(key)) return bad('SCHEMA_VIOLATION', key, 'unknown field (custom data goes in properties)');
    const siteId = present(record.site_id) ? record.site_id : this.deps.defaultSite;
    if (typeof siteId !== 'string') return bad('UNAUTHORIZED', 'site_id', siteId === undefined ? 'no site given (the record has no site_id and no --site was given)' : 'expected string');
    const site = this.deps.sites.get(siteId);
    if (!site) return bad('UNAUTHORIZED', 'site_id', `unknown site "${siteId}"`);
    if (!present(record.visitor_id)) return bad('SCHEMA_VIOLATION', 'visitor_id', 'required for imports (history has no client address to derive one from)');
    if (!present(record.event_time)) return bad('SCHEMA_VIOLATION', 'event_time', 'required for imports (history keeps its own time)');
    const id = present(record.event_id) ? record.event_id : importEventId(this.deps.importId, row);
    const pub = publicEvent(record, id as string);
    if ('kind' in pub) return pub as Mapped;
    const input = validateEvent(pub);
    if (input.kind !== 'ok') {
      if (input.kind === 'skip') return bad('SCHEMA_VIOLATION', '(root)', input.reason);
      const field = input.field === undefined ? undefined : (RENAMED[input.field.split('.')[0]!] ?? input.field.split('.')[0]!) + input.field.slice(input.field.split('.')[0]!.length);
      const message = input.message.replace(/(^|; )(id|ts|visitor|session|props)(?=[.:])/g, (_m, sep: string, f: string) => `${sep}${RENAMED[f]}`);
      return { kind: 'dead-letter', stage: input.stage, code: input.code, message, ...(field !== undefined ? { field } : {}) };
    }
    const v = input.value;
    const eventTime = v.ts!;
    let receivedAt = eventTime;
    if (present(record.received_time)) {
      const t = typeof record.received_time === 'number' || typeof record.received_time === 'string' ? parseTs(record.received_time) : 'expected epoch milliseconds or an ISO-8601 string';
      if (typeof t === 'string') return bad('SCHEMA_VIOLATION', 'received_time', t);
      receivedAt = t;
    }
    const extras = this.extras(record);
    if ('kind' in extras) return extras as Mapped;
    let event: TwinlaneEvent;
    try {
      event = this.deps.enricher.enrich(v, { eventTime, adjusted: false }, { siteId: site.id, zone: site.timezone, ...(extras.userAgent !== null ? { userAgent: extras.userAgent } : {}), receivedAt });
    } catch (err) {
      return { kind: 'dead-letter', stage: 'enrich', code: 'ENRICHMENT_FAILED', message: `enrichment failed: ${(err as Error).message}` };
    }
    // What the record brings wins over what enrichment guessed (history knows better than an empty user agent).
    if (extras.country !== null) event.country = extras.country;
    if (extras.device !== null) event.device_type = extras.device;
    if (extras.browser !== null) event.browser = extras.browser;
    if (extras.os !== null) event.os = extras.os;
    if (extras.bot !== null) event.is_bot = extras.bot;
    if (extras.ipHash !== null) event.ip_hash = extras.ipHash;
    if (extras.adjusted !== null) event.time_adjusted = extras.adjusted;
    if (!this.deps.codec.type.isValid(event)) {
      const paths = this.deps.codec.invalidPaths(event);
      return { kind: 'dead-letter', stage: 'validate', code: 'SCHEMA_VIOLATION', message: `does not match the event schema at ${paths.join(', ')}`, ...(paths[0] ? { field: paths[0] } : {}) };
    }
    return { kind: 'ok', event };
  }

  private extras(r: Record<string, unknown>): Mapped | { country: string | null; device: string | null; browser: string | null; os: string | null; bot: boolean | null; ipHash: string | null; adjusted: boolean | null; userAgent: string | null } {
    const country = shortText(r, 'country', 64);
    const device = shortText(r, 'device_type', 64);
    const browser = shortText(r, 'browser', 200);
    const os = shortText(r, 'os', 200);
    const ipHash = shortText(r, 'ip_hash', 128);
    const userAgent = shortText(r, 'user_agent', 2048);
    const bot = flag(r, 'is_bot');
    const adjusted = flag(r, 'time_adjusted');
    for (const x of [country, device, browser, os, ipHash, userAgent, bot, adjusted]) if (x !== null && typeof x === 'object') return x;
    return { country: country as string | null, device: device as string | null, browser: browser as string | null, os: os as string | null, bot: bot as boolean | null, ipHash: ipHash as string | null, adjusted: adjusted as boolean | null, userAgent: userAgent as string | null };
  }
}
