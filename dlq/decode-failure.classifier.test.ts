import { describe, expect, it } from 'vitest';
import { DependencyError } from '../core/errors.ts';
import { AvroDecodeError, SchemaViolationError, UnknownSchemaIdError, unframe } from '../schemas/index.ts';
import { classifyDecodeFailure, decodeDeadLetter } from './decode-failure.classifier.ts';

const source = { topic: 'twinlane.events', partition: 2, offset: '41' };

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('decode failure classifier', () => {
  it('dead-letters bytes without the Confluent framing as binary PAYLOAD_FORMAT', () => {
    const bytes = Buffer.from('not avro');
    const failure = classifyDecodeFailure(thrownBy(() => unframe(bytes)));
    expect(failure).toMatchObject({ kind: 'dead-letter', stage: 'decode', code: 'PAYLOAD_FORMAT' });
    expect(decodeDeadLetter(failure!, bytes, source)).toEqual({ stage: 'decode', code: 'PAYLOAD_FORMAT', message: failure!.message, payload: bytes, payloadFormat: 'binary', source });
  });

  it('keeps framed records as avro-confluent: undecodable bytes, unknown ids, drifted writer schemas with the first field', () => {
    expect(classifyDecodeFailure(new AvroDecodeError(3, new Error('truncated buffer')))).toMatchObject({ code: 'PAYLOAD_FORMAT' });
    const unknown = classifyDecodeFailure(new UnknownSchemaIdError(99))!;
    expect(decodeDeadLetter(unknown, Buffer.from([0, 0, 0, 0, 99]), source)).toMatchObject({ code: 'UNKNOWN_SCHEMA_ID', payloadFormat: 'avro-confluent' });
    const drift = classifyDecodeFailure(new SchemaViolationError(['revenue_micros', 'properties.price']))!;
    expect(drift).toMatchObject({ code: 'SCHEMA_VIOLATION', field: 'revenue_micros' });
    expect(decodeDeadLetter(drift, null, source)).toMatchObject({ field: 'revenue_micros', payload: Buffer.alloc(0), payloadFormat: 'avro-confluent' });
    expect(classifyDecodeFailure(new SchemaViolationError([]))).not.toHaveProperty('field');
  });

  it('leaves failures that are not the record\'s to the caller (the batch is retried)', () => {
    expect(classifyDecodeFailure(new DependencyError('REGISTRY_UNREACHABLE', 'registry down'))).toBeUndefined();
    expect(classifyDecodeFailure(new Error('PAYLOAD_FORMAT'))).toBeUndefined();
    expect(classifyDecodeFailure(new TypeError('x is undefined'))).toBeUndefined();
  });
});
