/**
 * Registry look-ups by schema id, cached, for every decoder of the events topic (EventCodec, the
 * speed layer's projected decoder). Ids are immutable, so an entry is kept for good; concurrent
 * misses for one id share one registry request, and a failed request is not cached (the registry
 * may be back for the next record). A writer schema that can never resolve to the current one is
 * kept as its SchemaViolationError, so every record of it fails the same way without a request.
 */
import type { SchemaViolationError } from './codec.errors.ts';
import type { AvroSchemaJson } from './event.ts';
import { driftError } from './schema-drift.ts';

export interface RegistryClient {
  register(schema: AvroSchemaJson, subject: string): Promise<number>;
  /** Writer schema JSON by id; throws UnknownSchemaIdError for an id the registry lacks. */
  schemaById(id: number): Promise<AvroSchemaJson>;
}

export class WriterSchemaCache<T> {
  /**
   * Entries by id. Read-only views of the maps are public so a decoder's hot loop can hold them
   * and read with one Map#get, as it did before the cache was shared.
   */
  readonly known: ReadonlyMap<number, T>;
  /** Ids whose writer schema drifted from `current`, with the error their records get. */
  readonly drifted: ReadonlyMap<number, SchemaViolationError>;
  private readonly entries = new Map<number, T>();
  private readonly drifts = new Map<number, SchemaViolationError>();
  private readonly pending = new Map<number, Promise<T>>();

  /**
   * `current` is the schema a writer schema is judged against for drift; `build` turns a writer
   * schema into the decoder's entry (a resolver into its reader schema, for example).
   */
  constructor(
    private readonly registry: RegistryClient,
    private readonly current: AvroSchemaJson,
    private readonly build: (writer: AvroSchemaJson) => T,
  ) {
    this.known = this.entries;
    this.drifted = this.drifts;
  }

  /** Adds an entry known without asking the registry (a codec's own, just registered, schema). */
  set(id: number, entry: T): void {
    this.entries.set(id, entry);
  }

  /** The entry of `id`, from the registry once; rejects with the drift error for a drifted writer schema. */
  lookup(id: number): Promise<T> {
    let p = this.pending.get(id);
    if (!p) {
      p = this.registry
        .schemaById(id)
        .then((schema) => {
          const drift = driftError(this.current, schema, id);
          if (drift) {
            this.drifts.set(id, drift);
            throw drift;
          }
          const entry = this.build(schema);
          this.entries.set(id, entry);
          return entry;
        })
        .finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }
}
