/**
 * validate → clock-skew policy → enrich → encode, for one event, without HTTP. The collector
 * runs every event through it, and so does the dead-letter replay ("through the same
 * validation again, never around it"). Results are values (Outcome); nothing here writes to
 * Kafka or to the dead-letter topic.
 */
import { isUtf8 } from 'node:buffer';
import type { Sites } from '../core/sites.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { SchemaViolationError } from '../schemas/index.ts';
import { deadLetter, ok, type Outcome } from '../dlq/index.ts';
import { applyClockSkew, type ClockSkewOptions } from './clock-skew.policy.ts';
import { redactRecord } from '../core/pii.redactor.ts';
import type { EventEnricher } from './event.enricher.ts';
import { validateEvent } from './event.validator.ts';
import { SaltUnavailableError } from './salt.store.ts';
import type { CollectContext, EncodedEvent } from './types.ts';

/** What the pipeline needs from the codec: EventCodec after init(). */
export interface EventEncoder {
  encode(event: TwinlaneEvent): Buffer;
}

export interface EventPipelineDeps {
  sites: Sites;
  encoder: EventEncoder;
  enricher: EventEnricher;
  clockSkew: ClockSkewOptions;
}

export function kafkaKey(event: Pick<TwinlaneEvent, 'site_id' | 'visitor_id'>): string {
  return `${event.site_id}:${event.visitor_id}`;
}

export class EventPipeline {
  constructor(private readonly deps: EventPipelineDeps) {}

  /**
   * Loads what processing events of `siteId` needs first (the shared hashing salts, once per
   * period); undefined when nothing is missing. Rejects with SaltUnavailableError.
   */
  prepare(siteId: string | undefined): Promise<void> | undefined {
    const site = siteId === undefined ? undefined : this.deps.sites.get(siteId);
    return site ? this.deps.enricher.prepare(site.timezone) : undefined;
  }

  /**
   * One event's JSON bytes (UTF-8, no compression). Throws SaltUnavailableError (retriable: the
   * whole request waits) when a hashing salt cannot be loaded; call `prepare()` first.
   */
  process(raw: Buffer, ctx: CollectContext): Outcome<EncodedEvent> {
    if (!isUtf8(raw)) return deadLetter('collect', 'PAYLOAD_FORMAT', 'event is not valid UTF-8');
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8').replace(/^\uFEFF/, ''));
    } catch (err) {
      return deadLetter('collect', 'PAYLOAD_FORMAT', `event is not valid JSON: ${(err as Error).message}`);
    }
    return this.processValue(value, ctx);
  }

  /** An event already parsed from JSON (the collector parses a whole body at once). */
  processValue(value: unknown, ctx: CollectContext): Outcome<EncodedEvent> {
    const site = ctx.siteId === undefined ? undefined : this.deps.sites.get(ctx.siteId);
    if (!site) return deadLetter('collect', 'UNAUTHORIZED', ctx.siteId ? `unknown site "${ctx.siteId}"` : 'no site given');
    if (ctx.writeKey !== undefined) {
      const auth = this.deps.sites.authorizeWrite(site.id, ctx.writeKey);
      if (!auth.ok) return deadLetter('collect', 'UNAUTHORIZED', auth.message);
    }
    const input = validateEvent(value);
    if (input.kind !== 'ok') return input;
    const time = applyClockSkew(input.value.ts, ctx.receivedAt, this.deps.clockSkew);
    if (time.kind !== 'ok') return time;
    let event: TwinlaneEvent;
    try {
      event = this.deps.enricher.enrich(input.value, time.value, { siteId: site.id, zone: site.timezone, ip: ctx.ip, userAgent: ctx.userAgent, receivedAt: ctx.receivedAt });
    } catch (err) {
      if (err instanceof SaltUnavailableError) throw err; // not the event's fault: the request is refused with 503
      return deadLetter('enrich', 'ENRICHMENT_FAILED', `enrichment failed: ${(err as Error).message}`);
    }
    try {
      return ok({ event, key: kafkaKey(event), bytes: this.deps.encoder.encode(event) });
    } catch (err) {
      if (err instanceof SchemaViolationError) return deadLetter('validate', 'SCHEMA_VIOLATION', `does not match the registered event schema at ${err.paths.join(', ')}`, err.paths[0]);
      throw err;
    }
  }

  /**
   * A complete event record (a replay transform's result, or a letter's decoded Avro record): the
   * checks live traffic gets that a record can still fail: its site exists, its event time lies
   * within the clock-skew window of its received time (adjusted or refused by the same policy),
   * and its text fields are PII-redacted; then the schema. A record never goes around them.
   */
  processRecord(record: Record<string, unknown>): Outcome<EncodedEvent> {
    const siteId = typeof record.site_id === 'string' ? record.site_id : undefined;
    if (siteId === undefined || !this.deps.sites.get(siteId)) return deadLetter('validate', 'UNAUTHORIZED', siteId === undefined ? 'site_id: no site given' : `site_id: unknown site "${siteId}"`, 'site_id');
    let event = redactRecord(record) as unknown as TwinlaneEvent;
    if (typeof event.event_time === 'number' && typeof event.received_time === 'number') {
      const time = applyClockSkew(event.event_time, event.received_time, this.deps.clockSkew);
      if (time.kind !== 'ok') return time;
      if (time.value.adjusted) event = { ...event, event_time: time.value.eventTime, time_adjusted: true };
    }
    try {
      return ok({ event, key: kafkaKey(event), bytes: this.deps.encoder.encode(event) });
    } catch (err) {
      if (err instanceof SchemaViolationError) return deadLetter('validate', 'SCHEMA_VIOLATION', `does not match the event schema at ${err.paths.join(', ')}`, err.paths[0]);
      throw err;
    }
  }
}
