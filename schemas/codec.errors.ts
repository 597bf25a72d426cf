/** The codec's typed failures; each becomes a dead-letter code (UNKNOWN_SCHEMA_ID, SCHEMA_VIOLATION, PAYLOAD_FORMAT). */
import { TwinlaneError } from '../core/errors.ts';

export class UnknownSchemaIdError extends TwinlaneError {
  constructor(readonly schemaId: number) {
    super('UNKNOWN_SCHEMA_ID', `schema id ${schemaId} is not in the registry`, { retriable: false });
  }
}

export class SchemaViolationError extends TwinlaneError {
  /** Paths of the offending fields, e.g. ['revenue_micros', 'properties.price']. */
  readonly paths: string[];
  constructor(paths: string[], message?: string) {
    super('SCHEMA_VIOLATION', message ?? `does not match the event schema at ${paths.join(', ') || '(root)'}`, { retriable: false });
    this.paths = paths;
  }
}

/** Avro bytes that do not decode with the schema their id names. */
export class AvroDecodeError extends TwinlaneError {
  constructor(schemaId: number, cause: unknown) {
    super('PAYLOAD_FORMAT', `bytes do not decode with schema id ${schemaId}: ${cause instanceof Error ? cause.message : String(cause)}`, { retriable: false, cause });
  }
}
