/**
 * Turns one stored dead letter into what replay would send, through the same validation as
 * the stage that rejected it, never around it:
 *  - JSON (collect / validate / enrich): the collector's EventPipeline (validate → clock-skew
 *    policy → enrich → encode), with the site and first-seen time of the letter;
 *  - Avro (decode / speed / archive): decoded with the registry, checked against the current
 *    event schema and re-encoded; undecodable bytes pass only through a transform.
 * A transform's result is a full event record when it has `event_id` (checked against the
 * schema), otherwise public event JSON (the collector's pipeline).
 */
import { createHash } from 'node:crypto';
import avro from 'avsc';
import { TwinlaneError, errorMessage } from '../core/errors.ts';
import { SchemaViolationError, unframe, type AvroSchemaJson, type TwinlaneEvent } from '../schemas/index.ts';
import { driftError } from '../schemas/index.ts';
import type { DeadLetterCode, Outcome, StoredDeadLetter } from './types.ts';
import { deadLetter, ok } from './types.ts';

/** What replay needs from ingest's EventPipeline: public event JSON, and complete records, both checked as live traffic is. */
export interface ReplayPipeline {
  processValue(value: unknown, ctx: { siteId?: string; receivedAt: number }): Outcome<{ event: TwinlaneEvent; key: string; bytes: Buffer }>;
  processRecord(record: Record<string, unknown>): Outcome<{ event: TwinlaneEvent; key: string; bytes: Buffer }>;
}

/** What replay needs from the schema codec (EventCodec after init()) and the registry. */
export interface ReplayCodec {
  decode(buf: Buffer | null): Promise<{ event: TwinlaneEvent; schemaId: number }>;
  encode(event: TwinlaneEvent): Buffer;
}
export interface ReplayRegistry {
  schemaById(id: number): Promise<AvroSchemaJson>;
}

/** What a transform receives for each record. */
export interface TransformInput {
  /** The letter's metadata (id, stage, code, message, field, siteId, attempts...). */
  letter: Omit<StoredDeadLetter, 'payload'>;
  payload: Buffer;
  /** The payload as UTF-8 text (lossy for binary payloads). */
  text: string;
  /** The parsed JSON payload, when it parses. */
  json?: unknown;
  /** The decoded Avro record (the writer's view when its schema drifted), when it decodes. */
  event?: Record<string, unknown>;
}
/**
 * Returns the repaired record: a value replaces the record (an array of events for a JSON
 * body); `undefined` keeps it as it is; `null` skips it (it stays as it was).
 */
export type Transform = (input: TransformInput) => unknown;

/** An event for the events topic: its Kafka key and Confluent-framed bytes. */
export interface PreparedEvent {
  key: string;
  bytes: Buffer;
  eventId: string;
  siteId: string;
}
/** A checked event a replay route lands itself, not through the events topic (dead-letter.replayer.ts). */
export interface PreparedRecord {
  event: TwinlaneEvent;
  eventId: string;
  siteId: string;
}
export type Preparation<E extends PreparedEvent | PreparedRecord = PreparedEvent> =
  | { kind: 'pass'; events: E[] }
  | { kind: 'fail'; code: DeadLetterCode; message: string; field?: string }
  | { kind: 'skip'; reason: string };

export interface PreparerDeps {
  pipeline: ReplayPipeline;
  codec: ReplayCodec;
  registry: ReplayRegistry;
  readerSchema: AvroSchemaJson;
}

/** A transform threw: replay stops before anything is sent or recorded. */
export class TransformError extends TwinlaneError {
  constructor(readonly letterId: string, cause: unknown) {
    super('TRANSFORM_FAILED', `the transform threw on dead letter ${letterId}: ${errorMessage(cause)}; nothing was replayed`, { retriable: false, cause });
  }
}

/** A UUID derived from the letter, so a JSON event without id gets the same id on every replay. */
export function replayEventId(letterId: string, index: number): string {
  const h = createHash('sha256').update(`replay/${letterId}/${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

type Decoded = { event?: Record<string, unknown>; failure?: { code: DeadLetterCode; message: string; field?: string } };

export class RecordPreparer {
  constructor(private readonly deps: PreparerDeps) {}

  async prepare(letter: StoredDeadLetter, transform?: Transform): Promise<Preparation> {
    const avroLike = letter.payloadFormat !== 'json';
    const decoded: Decoded = avroLike ? await this.decodeAvro(letter.payload) : {};
    const json = avroLike ? undefined : parseJson(letter.payload);
    const value: unknown = avroLike ? decoded.event : json?.ok ? json.value : undefined;
    if (transform) {
      const { payload, ...meta } = letter;
      let out: unknown;
      try {
        out = await transform({ letter: meta, payload, text: payload.toString('utf8'), ...(json?.ok ? { json: json.value } : {}), ...(decoded.event ? { event: decoded.event } : {}) });
      } catch (err) {
        throw new TransformError(letter.id, err);
      }
      if (out === null) return { kind: 'skip', reason: 'the transform returned null' };
      if (out !== undefined) return this.validate(letter, out, true);
    }
    if (avroLike) return decoded.failure ? { kind: 'fail', ...decoded.failure } : this.validate(letter, value, false);
    if (!json!.ok) return { kind: 'fail', code: 'PAYLOAD_FORMAT', message: `payload is not valid JSON: ${json!.error}` };
    return this.validate(letter, value, false);
  }

  /** Every event of the record must pass, or none is sent (a record is replayed whole). */
  private validate(letter: StoredDeadLetter, value: unknown, transformed: boolean): Preparation {
    const items = Array.isArray(value) ? value : [value];
    if (items.length === 0) return { kind: 'fail', code: 'SCHEMA_VIOLATION', message: 'no events to replay (empty array)' };
    const events: PreparedEvent[] = [];
    for (const [index, item] of items.entries()) {
      const outcome = isObject(item) && 'event_id' in item ? this.validateRecord(item) : this.validatePublic(letter, item, index);
      if (outcome.kind === 'dead-letter') {
        const where = items.length > 1 ? `event ${index}: ` : '';
        return { kind: 'fail', code: outcome.code, message: `${where}${outcome.message}${transformed ? ' (after the transform)' : ''}`, ...(outcome.field ? { field: outcome.field } : {}) };
      }
      if (outcome.kind === 'skip') return { kind: 'skip', reason: outcome.reason };
      events.push(outcome.value);
    }
    return { kind: 'pass', events };
  }

  private validatePublic(letter: StoredDeadLetter, item: unknown, index: number): Outcome<PreparedEvent> {
    // Keep an id stable across replays: the event id is the dedupe key downstream.
    const value = isObject(item) && item.id === undefined ? { ...item, id: replayEventId(letter.id, index) } : item;
    const out = this.deps.pipeline.processValue(value, { ...(letter.siteId ? { siteId: letter.siteId } : {}), receivedAt: letter.firstSeen });
    if (out.kind !== 'ok') return out;
    return ok({ key: out.value.key, bytes: out.value.bytes, eventId: out.value.event.event_id, siteId: out.value.event.site_id });
  }

  /** A complete record: its site, clock skew and PII checked and its text redacted as live traffic's (ingest's processRecord), then the schema. */
  private validateRecord(record: Record<string, unknown>): Outcome<PreparedEvent> {
    const out = this.deps.pipeline.processRecord(record);
    if (out.kind !== 'ok') return out;
    return ok({ key: out.value.key, bytes: out.value.bytes, eventId: out.value.event.event_id, siteId: out.value.event.site_id });
  }

  /** Decodes with the registry; on drift, decodes with the writer's schema alone so a transform can repair it. */
  private async decodeAvro(payload: Buffer): Promise<Decoded> {
    let schemaId: number;
    try {
      schemaId = unframe(payload).schemaId;
    } catch (err) {
      return { failure: { code: 'PAYLOAD_FORMAT', message: errorMessage(err) } };
    }
    try {
      return { event: (await this.deps.codec.decode(payload)).event as unknown as Record<string, unknown> };
    } catch (err) {
      if (err instanceof TwinlaneError && err.retriable) throw err; // registry down: stop, change nothing
      if (err instanceof TwinlaneError && err.code === 'UNKNOWN_SCHEMA_ID') return { failure: { code: 'UNKNOWN_SCHEMA_ID', message: err.message } };
      if (err instanceof SchemaViolationError) return { ...(await this.writerView(payload, schemaId)), failure: { code: 'SCHEMA_VIOLATION', message: err.message, ...(err.paths[0] ? { field: err.paths[0] } : {}) } };
      if (err instanceof TwinlaneError && err.code === 'PAYLOAD_FORMAT') return { failure: { code: 'PAYLOAD_FORMAT', message: err.message } };
      // The codec could not build a resolver: the writer schema drifted.
      const writer = await this.deps.registry.schemaById(schemaId);
      const drift = driftError(this.deps.readerSchema, writer, schemaId);
      const view = await this.writerView(payload, schemaId, writer);
      return { ...view, failure: drift ? { code: 'SCHEMA_VIOLATION', message: drift.message, ...(drift.paths[0] ? { field: drift.paths[0] } : {}) } : { code: 'PAYLOAD_FORMAT', message: errorMessage(err) } };
    }
  }

  private async writerView(payload: Buffer, schemaId: number, writer?: AvroSchemaJson): Promise<Pick<Decoded, 'event'>> {
    try {
      const schema = writer ?? (await this.deps.registry.schemaById(schemaId));
      return { event: avro.Type.forSchema(schema as avro.Schema).fromBuffer(unframe(payload).payload) as Record<string, unknown> };
    } catch {
      return {};
    }
  }
}

function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8').replace(/^\uFEFF/, '')) };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}
