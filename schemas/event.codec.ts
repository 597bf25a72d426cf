/**
 * Encodes events with the registered writer schema and decodes any registered version into
 * the current reader schema (Avro schema resolution), caching resolvers by id
 * (writer-schema.cache.ts). Failures are typed so they become dead-letter codes:
 * PAYLOAD_FORMAT, UNKNOWN_SCHEMA_ID, SCHEMA_VIOLATION.
 */
import avro from 'avsc';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { DependencyError, TwinlaneError } from '../core/errors.ts';
import { AvroDecodeError, SchemaViolationError, UnknownSchemaIdError } from './codec.errors.ts';
import { EVENT_SCHEMA, eventSubject, type AvroSchemaJson, type TwinlaneEvent } from './event.ts';
import { HEADER_SIZE, MAGIC_BYTE, unframe } from './wire-format.ts';
import { WriterSchemaCache, type RegistryClient } from './writer-schema.cache.ts';

export { AvroDecodeError, SchemaViolationError, UnknownSchemaIdError };
export type { RegistryClient };

/** RegistryClient over the real Confluent client (works with any Confluent-compatible registry). */
export class ConfluentRegistryClient implements RegistryClient {
  readonly client: SchemaRegistry;
  constructor(private readonly host: string) {
    this.client = new SchemaRegistry({ host, retry: { retries: 2 } });
  }
  async register(schema: AvroSchemaJson, subject: string): Promise<number> {
    try {
      const { id } = await this.client.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject });
      return id;
    } catch (err) {
      throw new DependencyError('REGISTRY_REGISTER_FAILED', `could not register the schema under ${subject}: ${(err as Error).message}`, err);
    }
  }
  async schemaById(id: number): Promise<AvroSchemaJson> {
    try {
      const res = await fetch(new URL(`/schemas/ids/${id}`, this.host), { signal: AbortSignal.timeout(5000) });
      if (res.status === 404) throw new UnknownSchemaIdError(id);
      if (!res.ok) throw new DependencyError('REGISTRY_LOOKUP_FAILED', `registry answered ${res.status} for schema id ${id}`);
      const body = (await res.json()) as { schema: string };
      return JSON.parse(body.schema) as AvroSchemaJson;
    } catch (err) {
      if (err instanceof TwinlaneError) throw err;
      throw new DependencyError('REGISTRY_UNREACHABLE', `schema registry unreachable: ${(err as Error).message}`, err);
    }
  }
}

export type DecodedEvent = { event: TwinlaneEvent; schemaId: number };

/** How a record of one writer schema id is read: the writer's type and its resolver into the reader (none for the reader's own id). */
type ResolvedWriter = { type: avro.Type; resolver: avro.Resolver | undefined };

export class EventCodec {
  private readonly readerType: avro.Type;
  private writerId: number | undefined;
  private scratch = Buffer.allocUnsafe(16 * 1024);
  private readonly writers: WriterSchemaCache<ResolvedWriter>;
  /** The cache's maps, read directly on the decode path. */
  private readonly resolvers: ReadonlyMap<number, ResolvedWriter>;
  private readonly drifted: ReadonlyMap<number, SchemaViolationError>;

  /**
   * `schema` is both what this codec writes and what it reads into: the current one by
   * default; an older one makes an old producer/consumer (the evolution tests use that).
   */
  constructor(
    private readonly registry: RegistryClient,
    private readonly topic: string,
    private readonly schema: AvroSchemaJson = EVENT_SCHEMA,
  ) {
    this.readerType = avro.Type.forSchema(schema as avro.Schema);
    this.writers = new WriterSchemaCache(registry, schema, (writer) => {
      const type = avro.Type.forSchema(writer as avro.Schema);
      return { type, resolver: this.readerType.createResolver(type) };
    });
    this.resolvers = this.writers.known;
    this.drifted = this.writers.drifted;
  }

  /** Registers the codec's schema (idempotent: the same schema gets the same id). */
  async init(): Promise<number> {
    if (this.writerId === undefined) {
      this.writerId = await this.registry.register(this.schema, eventSubject(this.topic));
      this.writers.set(this.writerId, { type: this.readerType, resolver: undefined });
    }
    return this.writerId;
  }

  get schemaId(): number {
    if (this.writerId === undefined) throw new Error('EventCodec.init() was not called');
    return this.writerId;
  }

  get type(): avro.Type {
    return this.readerType;
  }

  /** Field paths where `value` does not match the current schema; empty when valid. */
  invalidPaths(value: unknown): string[] {
    const paths: string[] = [];
    this.readerType.isValid(value, { errorHook: (path: string[]) => paths.push(path.join('.')) });
    return paths;
  }

  encode(event: TwinlaneEvent): Buffer {
    // isValid without an error hook is ~4x faster; collect the paths only for a bad event.
    if (!this.readerType.isValid(event)) throw new SchemaViolationError(this.invalidPaths(event));
    const id = this.schemaId;
    // Write header and Avro into one reused scratch buffer, then copy once (no toBuffer + frame).
    let end = this.readerType.encode(event, this.scratch, HEADER_SIZE);
    if (end < 0) {
      this.scratch = Buffer.allocUnsafe(2 * (this.scratch.length - end));
      end = this.readerType.encode(event, this.scratch, HEADER_SIZE);
    }
    this.scratch[0] = MAGIC_BYTE;
    this.scratch.writeUInt32BE(id, 1);
    return Buffer.from(this.scratch.subarray(0, end));
  }

  async decode(buf: Buffer | null): Promise<DecodedEvent> {
    const { schemaId, payload } = unframe(buf);
    const drift = this.drifted.get(schemaId);
    if (drift) throw drift;
    const entry = this.resolvers.get(schemaId) ?? (await this.writers.lookup(schemaId));
    try {
      const event = (entry.resolver ? this.readerType.fromBuffer(payload, entry.resolver) : this.readerType.fromBuffer(payload)) as TwinlaneEvent;
      return { event, schemaId };
    } catch (err) {
      throw new AvroDecodeError(schemaId, err);
    }
  }

  /** Synchronous decode for ids already cached; undefined when the id needs a registry lookup. */
  decodeCached(buf: Buffer | null): DecodedEvent | undefined {
    const { schemaId, payload } = unframe(buf);
    const drift = this.drifted.get(schemaId);
    if (drift) throw drift;
    const entry = this.resolvers.get(schemaId);
    if (!entry) return undefined;
    try {
      const event = (entry.resolver ? this.readerType.fromBuffer(payload, entry.resolver) : this.readerType.fromBuffer(payload)) as TwinlaneEvent;
      return { event, schemaId };
    } catch (err) {
      throw new AvroDecodeError(schemaId, err);
    }
  }
}
