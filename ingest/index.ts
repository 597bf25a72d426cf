/** Public surface of ingest/: the collector, its event pipeline and the producer. */
export type { CollectContext, EncodedEvent, Rejection, CollectResponse, CollectErrorResponse } from './types.ts';
export { collectorOptions, PRODUCER_DEFAULTS, type CollectorOptions, type ProducerOptions, type Compression } from './options.ts';
export { applyClockSkew, type ClockSkewOptions, type EventTime } from './clock-skew.policy.ts';
export { validateEvent, toMicros, parseTs, LIMITS, type EventInput } from './event.validator.ts';
export { EventPipeline, kafkaKey, type EventEncoder, type EventPipelineDeps } from './event.pipeline.ts';
export { EventEnricher, countryOf, normaliseIp } from './event.enricher.ts';
export { UserAgentParser, type UserAgentInfo } from './user-agent.parser.ts';
export { IpHasher, SALT_GRACE_MS } from './ip.hasher.ts';
export { MemorySaltStore, RedisSaltStore, SaltUnavailableError, type SaltStore, type RedisSaltStoreOptions } from './salt.store.ts';
export { redactPii } from '../core/pii.redactor.ts';
export { EventsProducer, KafkaUnavailableError, ProducerBusyError, type Readiness } from './events.producer.ts';
export { registerLz4Codec } from './lz4.codec.ts';
export { CollectHandler, type EventSink, type DeadLetterSink } from './collect.handler.ts';
export { buildCollectorApp, TRACKER_SCRIPT } from './collector.app.ts';
export { CollectorService, createEventPipeline, trustProxySetting, type CollectorDeps, type CollectorServiceOptions } from './collector.service.ts';
