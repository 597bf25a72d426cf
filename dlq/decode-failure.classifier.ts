/**
 * What a record of the events topic that does not decode becomes, decided in one place for every
 * consumer of that topic (the speed consumer and the lake archiver both read every record): the
 * same bad record gets the same stage, code, field and payload format whichever path meets it,
 * which replay relies on to send it back once.
 *
 * Only failures that are the record's own are dead-lettered: bytes without the Confluent framing
 * or that do not decode (PAYLOAD_FORMAT), a schema id the registry does not know
 * (UNKNOWN_SCHEMA_ID), a writer schema that drifted from the current one (SCHEMA_VIOLATION).
 * Anything else (the registry unreachable, for example) is left to the caller to throw, so the
 * batch is retried instead of drained into the DLQ. Errors are told apart by code, never by text.
 */
import { TwinlaneError } from '../core/errors.ts';
import { SchemaViolationError } from '../schemas/index.ts';
import type { NewDeadLetter } from './dead-letter.writer.ts';
import type { DeadLetterCode, Outcome, SourcePosition } from './types.ts';

export type DecodeFailureCode = Extract<DeadLetterCode, 'PAYLOAD_FORMAT' | 'UNKNOWN_SCHEMA_ID' | 'SCHEMA_VIOLATION'>;

const DECODE_FAILURE_CODES: ReadonlySet<string> = new Set<DecodeFailureCode>(['PAYLOAD_FORMAT', 'UNKNOWN_SCHEMA_ID', 'SCHEMA_VIOLATION']);

/** A decode failure as a per-record outcome (stage `decode`). */
export type DecodeFailure = Extract<Outcome<never>, { kind: 'dead-letter' }> & { stage: 'decode'; code: DecodeFailureCode };

/** The record's dead-letter outcome for `err`; undefined when the failure is not the record's fault. */
export function classifyDecodeFailure(err: unknown): DecodeFailure | undefined {
  if (!(err instanceof TwinlaneError) || !DECODE_FAILURE_CODES.has(err.code)) return undefined;
  // The first offending field names the letter's `field` (the message lists them all).
  const field = err instanceof SchemaViolationError ? err.paths[0] : undefined;
  return { kind: 'dead-letter', stage: 'decode', code: err.code as DecodeFailureCode, message: err.message, ...(field ? { field } : {}) };
}

/**
 * The dead letter of a record that failed to decode: its original bytes, the reason, and where
 * it sat. Bytes that are not even framed Avro are kept as `binary`; the rest as `avro-confluent`,
 * so replay can decode them again once the registry knows their schema.
 */
export function decodeDeadLetter(failure: DecodeFailure, payload: Buffer | null, source: SourcePosition): NewDeadLetter {
  return {
    stage: failure.stage,
    code: failure.code,
    message: failure.message,
    payload: payload ?? Buffer.alloc(0),
    payloadFormat: failure.code === 'PAYLOAD_FORMAT' ? 'binary' : 'avro-confluent',
    ...(failure.field === undefined ? {} : { field: failure.field }),
    source,
  };
}
