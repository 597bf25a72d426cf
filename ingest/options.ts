/** The collector's settings, taken from the parsed configuration plus fixed engineering limits. */
import type { KeylessLimits } from './keyless.sampler.ts';
import type { ConfigValues } from '../core/config.ts';
import type { ClockSkewOptions } from './clock-skew.policy.ts';

export type Compression = 'none' | 'lz4';

export interface ProducerOptions {
  topic: string;
  /** How long the first queued event waits for company before a send (COLLECTOR_LINGER). */
  lingerMs: number;
  /** Most messages in one Kafka request. */
  maxBatchMessages: number;
  /** Events waiting for Kafka beyond which requests get 503 (backpressure). */
  maxQueuedEvents: number;
  /** A request whose events are not acknowledged in this time gets 503. */
  ackTimeoutMs: number;
  /** A send waits at most this long for a connection before its requests get 503. */
  connectTimeoutMs: number;
  /** After a failed send, requests fail fast with 503 for this long instead of piling up. */
  cooldownMs: number;
  compression: Compression;
}

export interface CollectorOptions {
  /** Largest body, compressed or not (COLLECTOR_BODY_LIMIT). */
  bodyLimit: number;
  /** Most events in one request (COLLECTOR_MAX_EVENTS). */
  maxEvents: number;
  clockSkew: ClockSkewOptions;
  ipSaltRotationMs: number;
  /** Seconds in the Retry-After header of a 503. */
  retryAfterSeconds: number;
  /** A dead letter of a whole body keeps at most this many bytes (Kafka's default message limit is 1 MB). */
  deadLetterMaxBytes: number;
  /** What is kept of input refused before authentication (a sample within a budget); absent: the defaults. */
  keyless?: KeylessLimits;
  producer: ProducerOptions;
}

export const PRODUCER_DEFAULTS: Omit<ProducerOptions, 'topic' | 'lingerMs'> = {
  maxBatchMessages: 5_000,
  maxQueuedEvents: 100_000,
  ackTimeoutMs: 10_000,
  connectTimeoutMs: 3_000,
  cooldownMs: 1_000,
  compression: 'none',
};

export function collectorOptions(config: ConfigValues): CollectorOptions {
  return {
    bodyLimit: config.COLLECTOR_BODY_LIMIT,
    maxEvents: config.COLLECTOR_MAX_EVENTS,
    clockSkew: { futureMs: config.CLOCK_SKEW_FUTURE, pastMs: config.CLOCK_SKEW_PAST, policy: config.CLOCK_SKEW_POLICY },
    ipSaltRotationMs: config.IP_SALT_ROTATION,
    retryAfterSeconds: 2,
    deadLetterMaxBytes: 512 * 1024,
    keyless: { budgetBytes: config.COLLECTOR_KEYLESS_BUDGET, sampleBytes: config.COLLECTOR_KEYLESS_SAMPLE, perSite: config.COLLECTOR_KEYLESS_PER_SITE },
    producer: { ...PRODUCER_DEFAULTS, topic: config.EVENTS_TOPIC, lingerMs: config.COLLECTOR_LINGER },
  };
}
