/**
 * Decodes only what the rollup reads. Avro schema resolution into a reader schema of those
 * fields makes avsc skip the others (URL, referrer, title, properties...)
 * without building their strings and maps: less decode time and far less garbage per event.
 * Writer schemas come from the registry by id through the codec's cache (WriterSchemaCache);
 * the errors are the codec's, so they dead-letter the same way (PAYLOAD_FORMAT,
 * UNKNOWN_SCHEMA_ID, and SCHEMA_VIOLATION for a writer schema that drifted from the full current
 * one, as EventCodec judges it).
 */
import avro from 'avsc';
import { AvroDecodeError, EVENT_SCHEMA, HEADER_SIZE, schemaIdOf, WriterSchemaCache, type AvroSchemaJson, type EventCodec, type RegistryClient, type SchemaViolationError, type TwinlaneEvent } from '../schemas/index.ts';

export const ROLLUP_FIELDS = [
  'event_id', 'site_id', 'type', 'name', 'event_time', 'visitor_id', 'session_id', 'path', 'hostname', 'referrer_host',
  'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'country', 'device_type', 'browser', 'os', 'is_bot', 'revenue_micros',
  'currency', 'properties',
] as const;

/** The part of an event the speed layer rolls up. */
export type RollupEvent = Pick<TwinlaneEvent, (typeof ROLLUP_FIELDS)[number]>;

export interface RollupDecoder {
  /** Synchronous decode when the schema id is known; undefined when it needs a registry lookup. */
  decodeCached(buf: Buffer | null): RollupEvent | undefined;
  decode(buf: Buffer | null): Promise<RollupEvent>;
}

/** The current event schema narrowed to ROLLUP_FIELDS (same names, types and defaults). */
export function rollupSchema(schema: AvroSchemaJson = EVENT_SCHEMA): AvroSchemaJson {
  const keep: ReadonlySet<string> = new Set(ROLLUP_FIELDS);
  return { ...schema, fields: schema.fields.filter((f) => keep.has(f.name)) };
}

export class ProjectedDecoder implements RollupDecoder {
  private readonly reader = avro.Type.forSchema(rollupSchema() as avro.Schema);
  /** Drift is judged against the full current schema, as EventCodec judges it. */
  private readonly writers: WriterSchemaCache<avro.Resolver>;
  /** The cache's maps, read directly in the hot loop. */
  private readonly resolvers: ReadonlyMap<number, avro.Resolver>;
  private readonly drifted: ReadonlyMap<number, SchemaViolationError>;

  constructor(registry: RegistryClient) {
    this.writers = new WriterSchemaCache(registry, EVENT_SCHEMA, (writer) => this.reader.createResolver(avro.Type.forSchema(writer as avro.Schema)));
    this.resolvers = this.writers.known;
    this.drifted = this.writers.drifted;
  }

  decodeCached(buf: Buffer | null): RollupEvent | undefined {
    const schemaId = schemaIdOf(buf);
    const resolver = this.resolvers.get(schemaId);
    if (resolver !== undefined) return this.read(schemaId, buf!, resolver);
    const drift = this.drifted.get(schemaId);
    if (drift) throw drift;
    return undefined;
  }

  async decode(buf: Buffer | null): Promise<RollupEvent> {
    const schemaId = schemaIdOf(buf);
    const drift = this.drifted.get(schemaId);
    if (drift) throw drift;
    return this.read(schemaId, buf!, this.resolvers.get(schemaId) ?? (await this.writers.lookup(schemaId)));
  }

  /** Reads past the header in place (no payload slice per record: one allocation less). */
  private read(schemaId: number, framed: Buffer, resolver: avro.Resolver): RollupEvent {
    let r: { value: unknown; offset: number };
    try {
      r = this.reader.decode(framed, HEADER_SIZE, resolver);
    } catch (err) {
      throw new AvroDecodeError(schemaId, err);
    }
    if (r.offset !== framed.length) throw new AvroDecodeError(schemaId, new Error(r.offset < 0 ? 'truncated buffer' : `${framed.length - r.offset} trailing bytes`));
    return r.value as RollupEvent;
  }
}

/** Full decode through an EventCodec, for callers that only have one. */
export function codecDecoder(codec: EventCodec): RollupDecoder {
  return {
    decodeCached: (buf) => codec.decodeCached(buf)?.event,
    decode: async (buf) => (await codec.decode(buf)).event,
  };
}
