/**
 * The SDK's options: one zod schema with defaults, parsed once in the constructor; a bad value
 * throws INVALID_OPTIONS naming every wrong field. Durations are milliseconds (numbers): the
 * SDK is configured from code, not from the environment.
 */
import { z } from 'zod';
import { TwinlaneSdkError } from './sdk.errors.ts';
import type { Delivery, RetryInfo } from './types.ts';

const wholeNumber = (min: number, max: number) => z.number().int(`expected a whole number from ${min} to ${max}`).min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`);

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http(s) URL such as https://collector.example or http://127.0.0.1:8080');

export const retrySchema = z.object({
  /** Attempts per request, the first included. */
  maxAttempts: wholeNumber(1, 1_000).default(10),
  /** First back-off when the collector gave no Retry-After; doubles, jittered. */
  initialDelayMs: wholeNumber(0, 600_000).default(500),
  maxDelayMs: wholeNumber(0, 3_600_000).default(30_000),
  /** A Retry-After longer than this is cut to it (a misconfigured proxy must not park the client for hours). */
  maxRetryAfterMs: wholeNumber(0, 3_600_000).default(60_000),
});

export const transportSchema = z.object({
  /** The collector's base URL; requests go to `<endpoint>/v1/collect`. */
  endpoint: httpUrl,
  /** One attempt is abandoned (and retried) after this long without an answer. */
  requestTimeoutMs: wholeNumber(1, 600_000).default(10_000),
  retry: retrySchema.prefault({}),
  /** Extra headers on every request (e.g. a proxy's authentication). */
  headers: z.record(z.string(), z.string()).default({}),
});

export const clientSchema = transportSchema
  .extend({
    site: z.string().min(1, 'expected the site id'),
    writeKey: z.string().min(1, "expected the site's write key"),
    /** Events per request; the collector takes at most COLLECTOR_MAX_EVENTS (1000 by default). */
    batchSize: wholeNumber(1, 1_000).default(100),
    /** A partial batch waits at most this long after start(); 0: only full batches, flush() and stop() send. */
    flushIntervalMs: wholeNumber(0, 3_600_000).default(1_000),
    /** Events held while the collector is slow or down; beyond it the oldest are dropped and counted. */
    maxQueue: wholeNumber(1, 10_000_000).default(10_000),
    /** stop() keeps sending (and retrying) for at most this long, then gives up on what is left. */
    shutdownTimeoutMs: wholeNumber(0, 3_600_000).default(15_000),
  })
  .superRefine((o, ctx) => {
    if (o.batchSize > o.maxQueue) ctx.addIssue({ code: 'custom', path: ['batchSize'], message: `must not exceed maxQueue (${o.maxQueue})` });
    if (o.retry.initialDelayMs > o.retry.maxDelayMs) ctx.addIssue({ code: 'custom', path: ['retry', 'initialDelayMs'], message: `must not exceed retry.maxDelayMs (${o.retry.maxDelayMs})` });
  });

/** Callbacks: not data, so kept out of the schema. An exception thrown by one is swallowed (analytics must not break the caller). */
export interface TransportHooks {
  onRetry?: (info: RetryInfo) => void;
}

export interface ClientHooks extends TransportHooks {
  /** Events that will never be delivered, and why (see SdkErrorCode). */
  onError?: (err: TwinlaneSdkError) => void;
  /** A request the collector answered with per-event results (accepted and rejected). */
  onDelivered?: (delivery: Delivery) => void;
}

export type TransportOptionsInput = z.input<typeof transportSchema> & TransportHooks;
export type TransportOptions = z.output<typeof transportSchema> & TransportHooks;
export type ClientOptionsInput = z.input<typeof clientSchema> & ClientHooks;
export type ClientOptions = z.output<typeof clientSchema> & ClientHooks;
export type RetryOptions = z.output<typeof retrySchema>;

function parseWith<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
  throw new TwinlaneSdkError('INVALID_OPTIONS', `invalid Twinlane SDK options:\n  - ${issues.join('\n  - ')}`);
}

/** Hooks are copied aside: zod would strip them as unknown keys. */
function hooksOf<H extends object>(input: H, names: readonly (keyof H & string)[]): Partial<H> {
  const out: Partial<H> = {};
  for (const n of names) if (typeof input[n] === 'function') out[n] = input[n];
  return out;
}

export function parseTransportOptions(input: TransportOptionsInput): TransportOptions {
  return { ...parseWith(transportSchema, input), ...hooksOf<TransportHooks>(input, ['onRetry']) };
}

export function parseClientOptions(input: ClientOptionsInput): ClientOptions {
  return { ...parseWith(clientSchema, input), ...hooksOf<ClientHooks>(input, ['onRetry', 'onError', 'onDelivered']) };
}
