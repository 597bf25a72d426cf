/**
 * TwinlaneEvent (event.ts) cannot drift from event.v2.avsc:
 * - at compile time (`tsc --noEmit`, part of `make test`): TS_SHAPE must name every field of
 *   TwinlaneEvent, no other, each with the kind its TypeScript type has;
 * - at run time: the same shape must equal the one read from the .avsc file.
 * Adding a field to one side only, or changing a type or its nullability, fails here.
 */
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { EVENT_KINDS, EVENT_SCHEMA, EVENT_SCHEMA_V1, EVENT_SCHEMA_V2, type TwinlaneEvent } from './event.ts';

type Kind<T> = T extends boolean ? 'boolean' : T extends string ? 'string' : T extends number ? 'number' : T extends Record<string, string> ? 'map<string>' : never;
type Shape = { [K in keyof TwinlaneEvent]-?: null extends TwinlaneEvent[K] ? `${Kind<NonNullable<TwinlaneEvent[K]>>} | null` : Kind<TwinlaneEvent[K]> };

const TS_SHAPE: Shape = {
  event_id: 'string',
  site_id: 'string',
  type: 'string',
  name: 'string',
  event_time: 'number',
  received_time: 'number',
  visitor_id: 'string',
  session_id: 'string',
  url: 'string',
  path: 'string',
  hostname: 'string',
  referrer: 'string | null',
  referrer_host: 'string | null',
  title: 'string | null',
  utm_source: 'string | null',
  utm_medium: 'string | null',
  utm_campaign: 'string | null',
  utm_term: 'string | null',
  utm_content: 'string | null',
  country: 'string | null',
  device_type: 'string',
  browser: 'string | null',
  os: 'string | null',
  is_bot: 'boolean',
  ip_hash: 'string | null',
  time_adjusted: 'boolean',
  properties: 'map<string>',
  revenue_micros: 'number | null',
  currency: 'string | null',
  screen_width: 'number | null',
};

/** The kind a TypeScript value of this Avro type has (avsc without logical types). */
function avroKind(type: unknown): string {
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    if (rest.length !== 1) throw new Error(`unsupported union ${JSON.stringify(type)}`);
    return `${avroKind(rest[0])}${type.length > rest.length ? ' | null' : ''}`;
  }
  const t = typeof type === 'string' ? type : (type as { type: string }).type;
  switch (t) {
    case 'string':
    case 'enum':
      return 'string';
    case 'int':
    case 'long':
    case 'float':
    case 'double':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'map':
      return `map<${avroKind((type as { values: unknown }).values)}>`;
    default:
      throw new Error(`no TypeScript kind for Avro type ${JSON.stringify(type)}`);
  }
}

function sampleEvent(): TwinlaneEvent {
  return {
    event_id: '0b6f1f2e-8d6c-4c39-9d1e-0d1f6a3e2b10', site_id: 's1', type: 'purchase', name: 'purchase',
    event_time: 1_700_000_000_000, received_time: 1_700_000_000_500, visitor_id: 'v1', session_id: 'x1',
    url: 'https://shop.example/p/1', path: '/p/1', hostname: 'shop.example', referrer: null, referrer_host: null,
    title: 'P1', utm_source: 'news', utm_medium: null, utm_campaign: null, utm_term: null, utm_content: null,
    country: 'DE', device_type: 'desktop', browser: 'Firefox', os: 'Linux', is_bot: false, ip_hash: 'ab12',
    time_adjusted: false, properties: { sku: 'A-1' }, revenue_micros: 19_990_000, currency: 'EUR', screen_width: 1280,
  };
}

describe('TwinlaneEvent and event.v2.avsc', () => {
  it('have the same fields, types and nullability', () => {
    const fromAvro = Object.fromEntries(EVENT_SCHEMA_V2.fields.map((f) => [f.name, avroKind(f.type)]));
    expect(fromAvro).toEqual(TS_SHAPE);
  });

  it('agree on the event kinds', () => {
    const typeField = EVENT_SCHEMA_V2.fields.find((f) => f.name === 'type')!;
    expect((typeField.type as { symbols: string[] }).symbols).toEqual([...EVENT_KINDS]);
  });

  it('a fully populated TwinlaneEvent is valid and round-trips unchanged', () => {
    const type = avro.Type.forSchema(EVENT_SCHEMA as avro.Schema);
    const event = sampleEvent();
    expect(type.isValid(event)).toBe(true);
    expect(type.fromBuffer(type.toBuffer(event))).toEqual(event);
  });

  it('the current schema is v2 and v2 only adds fields with defaults to v1', () => {
    expect(EVENT_SCHEMA).toBe(EVENT_SCHEMA_V2);
    const v1 = new Map(EVENT_SCHEMA_V1.fields.map((f) => [f.name, f]));
    const added = EVENT_SCHEMA_V2.fields.filter((f) => !v1.has(f.name));
    expect(added.map((f) => f.name)).toEqual(['hostname', 'screen_width']);
    for (const f of added) expect(f, f.name).toHaveProperty('default');
    for (const f of EVENT_SCHEMA_V2.fields.filter((x) => v1.has(x.name))) expect(f).toEqual(v1.get(f.name));
  });
});
