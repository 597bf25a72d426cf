/**
 * The collector as one long-running service: registers the event schema, starts the Kafka
 * producer and the dead-letter writer, and serves HTTP. Stop closes HTTP first (requests in
 * flight finish and get their answer), then drains the producer, then the dead-letter writer.
 */
import type { HttpLimits } from '../core/http-limits.ts';
import type { CollectorRateLimit } from './collector.app.ts';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { errorMessage } from '../core/errors.ts';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { ensureTopicsWith, type TopicPolicy, type TopicSpec } from '../core/kafka-topics.ts';
import { BaseService, type Service } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { Sites } from '../core/sites.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { EventCodec, type RegistryClient } from '../schemas/index.ts';
import { CollectHandler } from './collect.handler.ts';
import { buildCollectorApp } from './collector.app.ts';
import { EventEnricher } from './event.enricher.ts';
import { EventPipeline } from './event.pipeline.ts';
import { EventsProducer } from './events.producer.ts';
import { IpHasher } from './ip.hasher.ts';
import type { SaltStore } from './salt.store.ts';
import type { CollectorOptions } from './options.ts';
import { UserAgentParser } from './user-agent.parser.ts';

export interface CollectorDeps {
  kafka: Kafka;
  registry: RegistryClient;
  sites: Sites;
  /** Reloads `sites` when the sites file changes; runs while the collector does. */
  sitesWatcher?: Service;
  logger: Logger;
  metrics: Metrics;
  /**
   * Where the salts of IP hashes and cookieless visitor ids live: Redis, shared by every collector
   * process (RedisSaltStore); absent, this process's memory (then processes hash differently).
   */
  salts?: SaltStore;
}

export interface CollectorServiceOptions extends CollectorOptions {
  port: number;
  host: string;
  dlqTopic: string;
  trustProxy: boolean | string | string[];
  /** Connection, request and header limits (default: DEFAULT_HTTP_LIMITS). */
  httpLimits?: HttpLimits;
  /** Rate limits per client and site, counted in this Redis (owned by the service: closed at stop). */
  rateLimit?: CollectorRateLimit;
  /**
   * The events and dead-letter topics as they should be created, and whether the collector may
   * create them; checked once Kafka answers, and until then the collector is not ready. Without
   * it the topics are assumed to exist (tests that create their own).
   */
  topics?: { specs: readonly TopicSpec[]; policy: TopicPolicy };
}

/** `COLLECTOR_TRUST_PROXY` → Fastify's trustProxy. */
export function trustProxySetting(value: string): boolean | string[] {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Builds the pipeline a collector (or the dead-letter replay) runs events through. */
export function createEventPipeline(deps: { codec: EventCodec; sites: Sites; options: CollectorOptions; metrics?: Metrics; salts?: SaltStore }): EventPipeline {
  const lookups = deps.metrics?.counter('collector_user_agent_lookups_total', 'User-agent parses by cache result', ['result']);
  const userAgents = new UserAgentParser(10_000, lookups ? (hit) => lookups.inc({ result: hit ? 'hit' : 'miss' }) : undefined);
  const enricher = new EventEnricher({ userAgents, ipHasher: new IpHasher(deps.options.ipSaltRotationMs, Date.now, deps.salts) });
  return new EventPipeline({ sites: deps.sites, encoder: deps.codec, enricher, clockSkew: deps.options.clockSkew });
}

export class CollectorService extends BaseService {
  readonly name = 'collector';
  readonly codec: EventCodec;
  readonly producer: EventsProducer;
  readonly deadLetters: DeadLetterWriter;
  private appInstance: FastifyInstance;
  private readonly buildApp: () => FastifyInstance;
  private listening = false;
  private dlqConnecting: Promise<void> = Promise.resolve();
  private readonly pipeline: EventPipeline;

  constructor(
    private readonly deps: CollectorDeps,
    private readonly options: CollectorServiceOptions,
  ) {
    super();
    this.codec = new EventCodec(deps.registry, options.producer.topic);
    const topics = options.topics;
    const checkTopics = topics ? () => ensureTopicsWith(deps.kafka, topics.specs, topics.policy).then((created) => created.length > 0 && deps.logger.info({ event: 'kafka_topics_created', topics: created })) : undefined;
    this.producer = new EventsProducer({ kafka: deps.kafka, logger: deps.logger, metrics: deps.metrics, ...(checkTopics ? { checkTopics } : {}) }, options.producer);
    this.deadLetters = new DeadLetterWriter({ kafka: deps.kafka, topic: options.dlqTopic, logger: deps.logger, metrics: deps.metrics, reporter: 'collector' });
    const pipeline = createEventPipeline({ codec: this.codec, sites: deps.sites, options, metrics: deps.metrics, ...(deps.salts ? { salts: deps.salts } : {}) });
    this.pipeline = pipeline;
    const handler = new CollectHandler({ pipeline, events: this.producer, deadLetters: this.deadLetters, sites: deps.sites, options, logger: deps.logger, metrics: deps.metrics });
    this.buildApp = () => buildCollectorApp({ handler, sites: deps.sites, options, logger: deps.logger, metrics: deps.metrics, trustProxy: options.trustProxy, readiness: () => this.producer.readiness(), ...(options.httpLimits ? { httpLimits: options.httpLimits } : {}), ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}) });
    this.appInstance = this.buildApp();
  }

  /** The Fastify app (inject() works before start; a closed app is replaced so start() after stop() works). */
  get app(): FastifyInstance {
    return this.appInstance;
  }

  /** The port the collector listens on (useful with port 0). */
  get port(): number {
    return (this.app.server.address() as AddressInfo | null)?.port ?? this.options.port;
  }

  get url(): string {
    return `http://${this.options.host}:${this.port}`;
  }

  protected async onStart(): Promise<void> {
    // The schema must be registered before the first event is encoded; without it, stop here.
    const schemaId = await this.codec.init();
    const limiter = this.options.rateLimit?.redis;
    if (limiter?.status === 'end') await limiter.connect().catch(() => undefined);
    await this.producer.start();
    await this.loadSalts(limiter);
    // Not awaited: without Kafka the collector still starts (and answers 503); the writer connects on first use.
    this.dlqConnecting = this.deadLetters.start().catch((err: unknown) => this.deps.logger.warn({ event: 'dead_letter_writer_connect_failed', err: (err as Error).message }, 'dead-letter writer will connect on first use'));
    if (!this.listening) {
      await this.app.listen({ port: this.options.port, host: this.options.host });
      this.listening = true;
    }
    await this.deps.sitesWatcher?.start();
    this.deps.logger.info({ event: 'collector_listening', url: this.url, schema_id: schemaId, topic: this.options.producer.topic }, `collector on ${this.url}`);
  }

  /**
   * Loads the current hashing salts before the first request, so a start does not meet a burst of
   * Redis reads. Not fatal: without Redis the collector starts and answers 503 until it can read them.
   */
  private async loadSalts(redis: CollectorRateLimit['redis'] | undefined): Promise<void> {
    if (!this.deps.salts) return;
    try {
      if (redis && redis.status !== 'ready') await once(redis, 'ready', { signal: AbortSignal.timeout(3_000) });
      await Promise.all(this.deps.sites.ids().map((id) => this.pipeline.prepare(id)));
    } catch (err) {
      this.deps.logger.warn({ event: 'collector_salt_unavailable', err: errorMessage(err) }, 'hashing salts not loaded at start; requests get 503 until Redis answers');
    }
  }

  protected async onStop(): Promise<void> {
    await this.deps.sitesWatcher?.stop();
    if (this.listening) {
      // Requests in flight finish and get their answer; a keep-alive connection is closed as
      // soon as it falls idle (server.close() alone would wait for its keep-alive timeout).
      const sweep = setInterval(() => this.app.server.closeIdleConnections(), 50);
      try {
        await this.app.close();
      } finally {
        clearInterval(sweep);
      }
      this.listening = false;
      this.appInstance = this.buildApp();
    }
    await this.producer.stop();
    await this.dlqConnecting;
    await this.deadLetters.stop().catch(() => undefined);
    this.options.rateLimit?.redis.disconnect();
  }
}
