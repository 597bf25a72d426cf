/**
 * One POST /v1/collect, independent of Fastify: authorise, check origin and media type, undo
 * gzip, parse, run each event through the pipeline, hand the valid ones to Kafka and the
 * rejected ones to the dead-letter topic, and answer only when Kafka has acknowledged both.
 */
import type { Message } from 'kafkajs';
import { errorMessage, TwinlaneError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Sites } from '../core/sites.ts';
import type { NewDeadLetter } from '../dlq/index.ts';
import { COLLECT_ERRORS, CollectError } from './collect.errors.ts';
import type { EventPipeline } from './event.pipeline.ts';
import { splitJsonArray } from './json-array.splitter.ts';
import { SaltUnavailableError } from './salt.store.ts';
import { DEFAULT_KEYLESS_LIMITS, KeylessSampler } from './keyless.sampler.ts';
import type { CollectorOptions } from './options.ts';
import { ACCEPTED_TYPES, decodeBody, mediaType, parseBody } from './request-body.reader.ts';
import type { CollectContext, CollectResponse, Rejection } from './types.ts';

/** Where accepted events go: resolves once Kafka acknowledged them (EventsProducer). */
export interface EventSink {
  send(messages: Message[]): Promise<void>;
}

/** Where rejected input goes: resolves once the dead letters are durable (DeadLetterWriter). */
export interface DeadLetterSink {
  write(letters: NewDeadLetter[]): Promise<unknown>;
}

export interface CollectRequest {
  /** The body as received (possibly gzip). */
  raw: Buffer;
  contentType?: string;
  contentEncoding?: string;
  siteId?: string;
  writeKey?: string;
  origin?: string;
  ip?: string;
  userAgent?: string;
  receivedAt: number;
}

export interface CollectReply {
  status: number;
  body: CollectResponse | { error: { code: string; message: string } } | (CollectResponse & { error: { code: string; message: string } });
  headers: Record<string, string>;
}

export interface CollectHandlerDeps {
  pipeline: EventPipeline;
  events: EventSink;
  deadLetters: DeadLetterSink;
  sites: Sites;
  options: CollectorOptions;
  logger: Logger;
  metrics: Metrics;
}

export class CollectHandler {
  private readonly m;
  private readonly keyless: KeylessSampler;
  private quietUntil = 0;

  constructor(private readonly deps: CollectHandlerDeps) {
    this.m = {
      events: deps.metrics.counter('collector_events_total', 'Events received, by outcome and dead-letter code', ['outcome', 'code']),
      requests: deps.metrics.counter('collector_requests_total', 'Collect requests by HTTP status', ['status']),
      dlqFailures: deps.metrics.counter('collector_dead_letter_failures_total', 'Dead letters the collector could not write (logged at error)'),
      keyless: deps.metrics.counter('collector_unauthenticated_requests_total', 'Requests refused before authentication, by whether a sample was dead-lettered', ['kept']),
    };
    this.keyless = new KeylessSampler(deps.options.keyless ?? DEFAULT_KEYLESS_LIMITS);
  }

  async handle(req: CollectRequest): Promise<CollectReply> {
    let authenticated = false;
    try {
      const auth = this.deps.sites.authorizeWrite(req.siteId, req.writeKey);
      if (!auth.ok) throw new CollectError('UNAUTHORIZED', auth.message, this.asSent(req));
      authenticated = true;
      if (req.origin !== undefined && !auth.site.allowsOrigin(req.origin)) {
        throw new CollectError('ORIGIN_NOT_ALLOWED', `origin ${req.origin} is not allowed for site "${auth.site.id}"`, this.asSent(req));
      }
      const type = mediaType(req.contentType);
      if (type !== '' && !ACCEPTED_TYPES.includes(type)) {
        throw new CollectError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${type}" is not supported; use ${ACCEPTED_TYPES.join(' or ')}`, this.asSent(req));
      }
      const body = await decodeBody(req.raw, req.contentEncoding, this.deps.options.bodyLimit);
      return await this.collect(parseBody(body), body, auth.site.id, req);
    } catch (err) {
      if (err instanceof CollectError) return this.reject(err, { ...req, authenticated });
      throw err;
    }
  }

  /**
   * A request rejected as a whole: dead-letter what it sent, then answer with the catalogue's
   * status. Refused before authentication (`authenticated` false), only a sample is kept
   * (KeylessSampler): anyone can send such input, so it must not be able to fill the disk.
   */
  async reject(err: CollectError, req: Pick<CollectRequest, 'siteId' | 'receivedAt'> & { authenticated: boolean }): Promise<CollectReply> {
    const code = COLLECT_ERRORS[err.code as keyof typeof COLLECT_ERRORS].deadLetter;
    if (code && err.payload) {
      const site = req.siteId !== undefined && this.deps.sites.get(req.siteId) ? req.siteId : undefined;
      const { bytes, format, truncatedFrom } = err.payload;
      const whole = truncatedFrom ?? bytes.length;
      let keepBytes = this.deps.options.deadLetterMaxBytes;
      let note = '';
      if (!req.authenticated) {
        const verdict = this.keyless.admit(req.siteId, whole);
        this.m.keyless.inc({ kept: String(verdict.keep) });
        if (!verdict.keep) return this.reply(err.status, { error: { code: err.code, message: err.message } });
        keepBytes = verdict.keepBytes;
        note = `; refused before authentication: a sample (request ${verdict.seen} of this site this minute)`;
      }
      const kept = bytes.subarray(0, keepBytes);
      const cut = kept.length < whole ? whole : undefined;
      const message = cut !== undefined ? `${err.message} (first ${kept.length} of ${cut} bytes kept${note})` : `${err.message}${note ? ` (${note.slice(2)})` : ''}`;
      await this.writeDeadLetters([{ stage: 'collect', code, message, payload: kept, payloadFormat: format, firstSeen: req.receivedAt, ...(site ? { siteId: site } : {}) }]);
      this.m.events.inc({ outcome: 'rejected', code });
    }
    return this.reply(err.status, { error: { code: err.code, message: err.message } }, err.retriable ? { 'retry-after': String(this.deps.options.retryAfterSeconds) } : {});
  }

  private async collect(value: unknown, body: Buffer, siteId: string, req: CollectRequest): Promise<CollectReply> {
    let elements: unknown[];
    /** Each event's own bytes, for its dead letter: found only when an event is refused. */
    let raws: () => Buffer[];
    if (Array.isArray(value)) {
      if (value.length === 0) throw new CollectError('NO_EVENTS', 'the array holds no events', { bytes: body, format: 'json' });
      if (value.length > this.deps.options.maxEvents) {
        throw new CollectError('TOO_MANY_EVENTS', `${value.length} events in one request; at most ${this.deps.options.maxEvents} are accepted`, { bytes: body, format: 'json' });
      }
      elements = value;
      let split: Buffer[] | undefined;
      raws = () => (split ??= splitJsonArray(body));
    } else if (value !== null && typeof value === 'object') {
      elements = [value];
      raws = () => [body];
    } else {
      throw new CollectError('PAYLOAD_FORMAT', 'body must be an event object or an array of events', { bytes: body, format: 'json' });
    }
    const ctx: CollectContext = { siteId, ip: req.ip, userAgent: req.userAgent, receivedAt: req.receivedAt };
    const messages: Message[] = [];
    const rejected: Rejection[] = [];
    const letters: NewDeadLetter[] = [];
    try {
      // The shared hashing salts, read from Redis once per period; without them nothing is hashed
      // (a salt of this process's own would give a visitor a second id), so the client retries.
      const loading = this.deps.pipeline.prepare(siteId);
      if (loading) await loading;
      this.processAll(elements, raws, ctx, { messages, rejected, letters });
    } catch (err) {
      if (!(err instanceof SaltUnavailableError)) throw err;
      if (Date.now() >= this.quietUntil) {
        this.quietUntil = Date.now() + 10_000; // once per 10 s, not once per request of an outage
        this.deps.logger.error({ event: 'collector_salt_unavailable', err: err.message }, 'hashing salt unavailable; requests get 503');
      }
      return this.reply(503, { error: { code: err.code, message: `${err.message}; nothing was accepted, retry later` } }, { 'retry-after': String(this.deps.options.retryAfterSeconds) });
    }
    // Rejected events are dead-lettered before the valid ones are sent: if the dead-letter topic
    // cannot take them, nothing is accepted and the client retries the whole request, so no
    // input is lost and no valid event is counted twice.
    if (!(await this.writeDeadLetters(letters))) {
      return this.reply(503, { accepted: 0, rejected, error: { code: 'DLQ_UNAVAILABLE', message: 'rejected events could not be dead-lettered; nothing was accepted, retry later' } }, { 'retry-after': String(this.deps.options.retryAfterSeconds) });
    }
    const [sent] = await Promise.allSettled([this.deps.events.send(messages)]);
    for (const r of rejected) this.m.events.inc({ outcome: 'rejected', code: r.code });
    if (sent.status === 'rejected') {
      const err = sent.reason as unknown;
      const code = err instanceof TwinlaneError && (err.code === 'COLLECTOR_BUSY' || err.code === 'TOPIC_MISSING') ? err.code : 'KAFKA_UNAVAILABLE';
      return this.reply(503, { accepted: 0, rejected, error: { code, message: `${errorMessage(err)}; nothing was accepted, retry later` } }, { 'retry-after': String(this.deps.options.retryAfterSeconds) });
    }
    this.m.events.inc({ outcome: 'accepted', code: '' }, messages.length);
    const response: CollectResponse = { accepted: messages.length, rejected };
    if (messages.length === 0) return this.reply(400, { ...response, error: { code: 'ALL_REJECTED', message: `all ${rejected.length} events were rejected` } });
    return this.reply(202, response);
  }

  /** Runs each event through the pipeline: accepted ones become messages, refused ones dead letters. */
  private processAll(elements: unknown[], raws: () => Buffer[], ctx: CollectContext, out: { messages: Message[]; rejected: Rejection[]; letters: NewDeadLetter[] }): void {
    const { messages, rejected, letters } = out;
    elements.forEach((element, index) => {
      const outcome = this.deps.pipeline.processValue(element, ctx);
      if (outcome.kind === 'ok') {
        messages.push({ key: outcome.value.key, value: outcome.value.bytes, timestamp: String(outcome.value.event.event_time) });
      } else if (outcome.kind === 'dead-letter') {
        const field = outcome.field === undefined ? {} : { field: outcome.field };
        rejected.push({ index, code: outcome.code, message: outcome.message, ...field });
        letters.push({ stage: outcome.stage, code: outcome.code, message: outcome.message, ...field, ...(ctx.siteId === undefined ? {} : { siteId: ctx.siteId }), firstSeen: ctx.receivedAt, payload: raws()[index] ?? Buffer.from(JSON.stringify(element)), payloadFormat: 'json' });
      }
    });
  }

  /** Dead letters are awaited before answering; false (logged and counted) when they did not land. */
  private async writeDeadLetters(letters: NewDeadLetter[]): Promise<boolean> {
    if (letters.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not acknowledged within ${this.deps.options.producer.ackTimeoutMs} ms`)), this.deps.options.producer.ackTimeoutMs);
    });
    try {
      await Promise.race([this.deps.deadLetters.write(letters), timeout]);
      return true;
    } catch (err) {
      this.m.dlqFailures.inc(letters.length);
      this.deps.logger.error({ event: 'collector_dead_letter_failed', count: letters.length, codes: [...new Set(letters.map((l) => l.code))], err: errorMessage(err) }, 'rejected input could not be dead-lettered');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private asSent(req: CollectRequest): { bytes: Buffer; format: 'json' | 'binary' } {
    const gz = req.contentEncoding !== undefined && req.contentEncoding.trim().toLowerCase() !== 'identity';
    return { bytes: req.raw, format: gz ? 'binary' : 'json' };
  }

  private reply(status: number, body: CollectReply['body'], headers: Record<string, string> = {}): CollectReply {
    this.m.requests.inc({ status: String(status) });
    return { status, body, headers };
  }
}
