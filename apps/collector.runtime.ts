/** The collector built from configuration; shared by its entry point, the CLI and tests. */
import { createKafka, rateLimitRedis } from '../core/clients.ts';
import { httpLimitsOf } from '../core/http-limits.ts';
import type { ConfigValues } from '../core/config.ts';
import { pipelineTopics, topicPolicy } from '../core/kafka-topics.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites, refuseDemoKeysInPublic, type Sites } from '../core/sites.ts';
import { SitesWatcher } from '../core/sites.watcher.ts';
import { ConfluentRegistryClient } from '../schemas/index.ts';
import { CollectorService, RedisSaltStore, trustProxySetting } from '../ingest/index.ts';
import { collectorOptions, type Compression } from '../ingest/index.ts';

export interface CollectorOverrides {
  port?: number;
  host?: string;
  compression?: Compression;
}

/** `metrics`: the registry to count in (a cluster worker's answers /metrics for every worker); default one of its own. */
export function createCollectorFromConfig(config: ConfigValues, overrides: CollectorOverrides = {}, metrics: Metrics = new Metrics('twinlane_', { defaultMetrics: true })): CollectorService {
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'collector');
  const sites = loadSites(config.SITES_FILE);
  const host = overrides.host ?? config.COLLECTOR_HOST;
  refuseDemoKeysInPublic('the collector', host, sites, config.ALLOW_DEMO_KEYS);
  const options = collectorOptions(config);
  if (overrides.compression) options.producer.compression = overrides.compression;
  const topics = pipelineTopics(config);
  // One Redis connection for rate limits and the shared hashing salts (owned by the service).
  const redis = rateLimitRedis(config);
  const check = (next: Sites) => refuseDemoKeysInPublic('the collector', host, next, config.ALLOW_DEMO_KEYS);
  return new CollectorService(
    {
      kafka: createKafka(config, logger, 'collector'),
      registry: new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL),
      sites,
      sitesWatcher: new SitesWatcher({ file: config.SITES_FILE, sites, intervalMs: config.SITES_RELOAD_INTERVAL, logger, metrics, check }),
      logger,
      metrics,
      salts: new RedisSaltStore(redis, { prefix: 'tl:salt:' }),
    },
    {
      ...options,
      port: overrides.port ?? config.COLLECTOR_PORT,
      host,
      dlqTopic: config.DLQ_TOPIC,
      trustProxy: trustProxySetting(config.COLLECTOR_TRUST_PROXY),
      httpLimits: httpLimitsOf(config),
      rateLimit: { limits: { client: config.COLLECTOR_RATE_LIMIT_CLIENT, site: config.COLLECTOR_RATE_LIMIT_SITE }, redis, keyPrefix: 'tl:' },
      topics: { specs: [topics.events, topics.dlq], policy: topicPolicy(config) },
    },
  );
}

