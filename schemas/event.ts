/**
 * The event record of contract 1, as TypeScript sees it. `event.v2.avsc` is the source of
 * truth; `event-type.test.ts` fails when the two drift apart.
 * Times are epoch milliseconds (avsc without logical types), revenue is in micro-units so
 * sums stay exact.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type EventKind = 'pageview' | 'custom' | 'purchase';
export const EVENT_KINDS: readonly EventKind[] = ['pageview', 'custom', 'purchase'];

export interface TwinlaneEvent {
  event_id: string;
  site_id: string;
  type: EventKind;
  name: string;
  event_time: number;
  received_time: number;
  visitor_id: string;
  session_id: string;
  url: string;
  path: string;
  hostname: string;
  referrer: string | null;
  referrer_host: string | null;
  title: string | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  utm_term: string | null;
  utm_content: string | null;
  country: string | null;
  device_type: string;
  browser: string | null;
  os: string | null;
  is_bot: boolean;
  ip_hash: string | null;
  time_adjusted: boolean;
  properties: Record<string, string>;
  revenue_micros: number | null;
  currency: string | null;
  screen_width: number | null;
}

export const EVENT_SUBJECT_SUFFIX = '-value';
/** Subject of the event schema for a topic (Confluent TopicNameStrategy). */
export function eventSubject(topic: string): string {
  return topic + EVENT_SUBJECT_SUFFIX;
}

export type AvroSchemaJson = { type: 'record'; name: string; namespace?: string; fields: { name: string; type: unknown; default?: unknown }[] };

function loadSchema(file: string): AvroSchemaJson {
  return JSON.parse(readFileSync(fileURLToPath(new URL(file, import.meta.url)), 'utf8')) as AvroSchemaJson;
}

export const EVENT_SCHEMA_V1: AvroSchemaJson = loadSchema('./event.v1.avsc');
export const EVENT_SCHEMA_V2: AvroSchemaJson = loadSchema('./event.v2.avsc');
/** The schema every writer uses now. */
export const EVENT_SCHEMA: AvroSchemaJson = EVENT_SCHEMA_V2;
