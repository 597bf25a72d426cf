/** Public surface of ingest/: the collector, its event pipeline, the producer, and the load generator. */
export type { CollectContext, EncodedEvent, Rejection, CollectResponse, CollectErrorResponse } from './types.ts';
export { collectorOptions, PRODUCER_DEFAULTS, type CollectorOptions, type ProducerOptions, type Compression } from './options.ts';
export { applyClockSkew, type ClockSkewOptions, type EventTime } from './clock-skew.policy.ts';
export { validateEvent, toMicros, LIMITS, type EventInput } from './event.validator.ts';
export { EventPipeline, kafkaKey, type EventEncoder, type EventPipelineDeps } from './event.pipeline.ts';
export { EventEnricher, countryOf, normaliseIp } from './event.enricher.ts';
export { UserAgentParser, type UserAgentInfo } from './user-agent.parser.ts';
export { IpHasher } from './ip.hasher.ts';
export { redactPii } from './pii.redactor.ts';
export { EventsProducer, KafkaUnavailableError, ProducerBusyError } from './events.producer.ts';
export { registerLz4Codec } from './lz4.codec.ts';
export { CollectHandler, type EventSink, type DeadLetterSink } from './collect.handler.ts';
export { buildCollectorApp, TRACKER_SCRIPT } from './collector.app.ts';
export { CollectorService, createEventPipeline, trustProxySetting, type CollectorDeps, type CollectorServiceOptions } from './collector.service.ts';
export { createCollectorFromConfig } from './collector.main.ts';
export { generateTraffic, rng, zipf, pagePath, COUNTRIES, DEVICES, type TrafficOptions } from './traffic.generator.ts';
export { toCollectorJson, clientContext, MALFORMATIONS, USER_AGENTS, COUNTRY_IPS, type Malformation } from './traffic.payload.ts';
export { LoadGenerator, runLoad, type LoadOptions, type LoadSummary, type LoadSite } from './load.generator.ts';
