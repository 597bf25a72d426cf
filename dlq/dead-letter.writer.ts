/**
 * The one dead-letter writer every stage uses: publishes to the DLQ topic with the original
 * bytes as the value and contract 8's metadata in headers, acknowledged by all in-sync
 * replicas. A failed send throws (retriable), so the caller never commits past a record that
 * neither landed nor was dead-lettered.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, randomUUID } from 'node:crypto';
import { redactPiiCounting, type Redactions } from '../core/pii.redactor.ts';
import type { Kafka, Producer, IHeaders } from 'kafkajs';
import { DependencyError } from '../core/errors.ts';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { DEAD_LETTER_CODES, DLQ_HEADERS, STAGES, type DeadLetter, type SourcePosition, type Stage } from './types.ts';

export type NewDeadLetter = Omit<DeadLetter, 'id' | 'firstSeen' | 'attempts' | 'reporter' | 'redacted'> & Partial<Pick<DeadLetter, 'id' | 'firstSeen' | 'attempts'>>;

/**
 * Text redacted as the collector redacts, the counts added to `into`: JSON by its strings (keys and
 * values), so a number such as a 13-digit millisecond time is never taken for a card and the letter
 * stays valid JSON (written again only when something was redacted); other text as a whole.
 */
function redactText(text: string, into: Redactions): string {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return redactPiiCounting(text, into).text;
  }
  const before = into.email + into.card;
  const str = (s: string): string => redactPiiCounting(s, into).text;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [str(k), walk(x)]));
    return v;
  };
  const out = walk(value);
  return into.email + into.card === before ? text : JSON.stringify(out);
}

/**
 * No raw PII at rest in dead letters (contract 8): a JSON payload, or a binary one that is UTF-8
 * text, and the message are stored with e-mail addresses and card numbers redacted, and the letter
 * says what was taken out. The text stays as it was otherwise, so it can still be repaired and
 * replayed. Other bytes (Avro, gzip) are left: the collector redacted events before encoding them.
 */
export function redactLetter<T extends Pick<DeadLetter, 'payload' | 'payloadFormat' | 'message'>>(letter: T): T & { redacted?: string } {
  const total: Redactions = { email: 0, card: 0 };
  const textual = letter.payloadFormat === 'json' || (letter.payloadFormat === 'binary' && isUtf8(letter.payload));
  const payloadText = textual ? redactText(letter.payload.toString('utf8'), total) : undefined;
  const inPayload = total.email + total.card;
  const message = redactPiiCounting(letter.message, total).text;
  if (total.email + total.card === 0) return letter;
  const redacted = (Object.entries(total) as [keyof Redactions, number][]).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`).join(',');
  return { ...letter, payload: inPayload > 0 ? Buffer.from(payloadText!, 'utf8') : letter.payload, message, redacted };
}

/**
 * The id of the letter of one source record's failure at one stage: a UUID-shaped hash of
 * (topic, partition, offset, stage). The speed consumer and the lake archiver both read every
 * record of the events topic; one garbage record is one letter, whoever reports it and however
 * often (a batch redelivered after a crash), and `dlq list` and replay see it once.
 */
export function sourceLetterId(source: SourcePosition, stage: Stage): string {
  const h = createHash('sha256').update(`${source.topic}\0${source.partition}\0${source.offset}\0${stage}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-b${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function toHeaders(dl: DeadLetter): IHeaders {
  const h: IHeaders = {
    [DLQ_HEADERS.id]: dl.id,
    [DLQ_HEADERS.stage]: dl.stage,
    [DLQ_HEADERS.code]: dl.code,
    [DLQ_HEADERS.message]: dl.message,
    [DLQ_HEADERS.firstSeen]: String(dl.firstSeen),
    [DLQ_HEADERS.attempts]: String(dl.attempts),
    [DLQ_HEADERS.payloadFormat]: dl.payloadFormat,
  };
  if (dl.field !== undefined) h[DLQ_HEADERS.field] = dl.field;
  if (dl.siteId !== undefined) h[DLQ_HEADERS.siteId] = dl.siteId;
  if (dl.reporter !== undefined) h[DLQ_HEADERS.reporter] = dl.reporter;
  if (dl.redacted !== undefined) h[DLQ_HEADERS.redacted] = dl.redacted;
  if (dl.source) {
    h[DLQ_HEADERS.sourceTopic] = dl.source.topic;
    h[DLQ_HEADERS.sourcePartition] = String(dl.source.partition);
    h[DLQ_HEADERS.sourceOffset] = dl.source.offset;
  }
  return h;
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
}

/**
 * Reads a dead letter back from a DLQ topic message. `fallbackId` (e.g. derived from the DLQ
 * position) keeps the id stable across redeliveries when a message lacks the id header.
 */
export function fromMessage(value: Buffer | null, headers: IHeaders | undefined, fallbackId?: string): DeadLetter {
  const partition = header(headers, DLQ_HEADERS.sourcePartition);
  const topic = header(headers, DLQ_HEADERS.sourceTopic);
  const offset = header(headers, DLQ_HEADERS.sourceOffset);
  const field = header(headers, DLQ_HEADERS.field);
  const siteId = header(headers, DLQ_HEADERS.siteId);
  const reporter = header(headers, DLQ_HEADERS.reporter);
  const redacted = header(headers, DLQ_HEADERS.redacted);
  const firstSeen = Number(header(headers, DLQ_HEADERS.firstSeen));
  const attempts = Number(header(headers, DLQ_HEADERS.attempts));
  return {
    id: header(headers, DLQ_HEADERS.id) ?? fallbackId ?? randomUUID(),
    stage: (header(headers, DLQ_HEADERS.stage) ?? 'decode') as DeadLetter['stage'],
    code: (header(headers, DLQ_HEADERS.code) ?? 'PAYLOAD_FORMAT') as DeadLetter['code'],
    message: header(headers, DLQ_HEADERS.message) ?? '',
    firstSeen: Number.isFinite(firstSeen) && firstSeen > 0 ? firstSeen : Date.now(),
    attempts: Number.isInteger(attempts) && attempts > 0 ? attempts : 1,
    payloadFormat: (header(headers, DLQ_HEADERS.payloadFormat) ?? 'binary') as DeadLetter['payloadFormat'],
    payload: value ?? Buffer.alloc(0),
    ...(field === undefined ? {} : { field }),
    ...(siteId === undefined ? {} : { siteId }),
    ...(reporter === undefined ? {} : { reporter }),
    ...(redacted === undefined ? {} : { redacted }),
    ...(topic !== undefined && partition !== undefined && offset !== undefined ? { source: { topic, partition: Number(partition), offset } } : {}),
  };
}

/** What is wrong with a DLQ message's metadata (missing or unknown id, stage, code, format); empty when sound. */
export function metadataProblems(headers: IHeaders | undefined): string[] {
  const problems: string[] = [];
  const id = header(headers, DLQ_HEADERS.id);
  const stage = header(headers, DLQ_HEADERS.stage);
  const code = header(headers, DLQ_HEADERS.code);
  const format = header(headers, DLQ_HEADERS.payloadFormat);
  if (!id) problems.push(`no ${DLQ_HEADERS.id} header`);
  if (!stage || !(STAGES as readonly string[]).includes(stage)) problems.push(`stage ${JSON.stringify(stage ?? null)} is not one of ${STAGES.join(', ')}`);
  if (!code || !(code in DEAD_LETTER_CODES)) problems.push(`code ${JSON.stringify(code ?? null)} is not a dead-letter code`);
  if (format !== undefined && !PAYLOAD_FORMATS.includes(format as DeadLetter['payloadFormat'])) problems.push(`payload format ${JSON.stringify(format)} is unknown`);
  return problems;
}

const PAYLOAD_FORMATS: readonly DeadLetter['payloadFormat'][] = ['json', 'avro-confluent', 'binary'];

export class DeadLetterWriter {
  private producer: Producer | undefined;
  private connecting: Promise<void> | undefined;
  private readonly counter;

  constructor(
    /** `reporter`: the component writing (collector, speed, lake), kept on every letter. */
    private readonly deps: { kafka: Kafka; topic: string; logger: Logger; metrics: Metrics; reporter?: string },
  ) {
    this.counter = deps.metrics.counter('dead_letters_total', 'Dead letters written, by stage and code', ['stage', 'code']);
  }

  /** Concurrent callers share one connection attempt; a failed attempt is forgotten so the next call retries. */
  start(): Promise<void> {
    if (!this.connecting) {
      const producer = this.deps.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: KAFKA_RETRY.DLQ_PRODUCER });
      this.connecting = producer.connect().then(
        () => {
          this.producer = producer;
        },
        (err: unknown) => {
          this.connecting = undefined;
          throw new DependencyError('DLQ_CONNECT_FAILED', `could not connect the dead-letter producer`, err);
        },
      );
    }
    return this.connecting;
  }

  async stop(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    await connecting?.catch(() => undefined);
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect();
  }

  /** Writes the dead letters and resolves once Kafka acknowledged all of them. */
  async write(letters: NewDeadLetter[]): Promise<DeadLetter[]> {
    if (letters.length === 0) return [];
    if (!this.producer) await this.start();
    const now = Date.now();
    const reporter = this.deps.reporter === undefined ? {} : { reporter: this.deps.reporter };
    const full: DeadLetter[] = letters.map((l) => ({
      ...redactLetter(l),
      ...reporter,
      id: l.id ?? (l.source ? sourceLetterId(l.source, l.stage) : randomUUID()),
      firstSeen: l.firstSeen ?? now,
      attempts: l.attempts ?? 1,
    }));
    try {
      await this.producer!.send({
        topic: this.deps.topic,
        acks: -1,
        messages: full.map((dl) => ({ key: dl.siteId ?? null, value: dl.payload, headers: toHeaders(dl) })),
      });
    } catch (err) {
      this.deps.logger.error({ event: 'dead_letter_write_failed', count: full.length, err });
      throw new DependencyError('DLQ_WRITE_FAILED', `could not write ${full.length} dead letters to ${this.deps.topic}`, err);
    }
    for (const dl of full) this.counter.inc({ stage: dl.stage, code: dl.code });
    return full;
  }
}
