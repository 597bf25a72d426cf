/**
 * Test fixture: a registry instance (Kafka-backed store + HTTP server on a free port) over a
 * given topic, so integration tests get their own `_schemas` log and can restart on it.
 */
import type { Kafka } from 'kafkajs';
import { silentLogger, type Logger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { RegistryServer } from './registry.server.ts';
import { KafkaRegistryStore } from './registry.store.ts';

export interface RegistryInstance {
  url: string;
  store: KafkaRegistryStore;
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startRegistryInstance(kafka: Kafka, topic: string, logger: Logger = silentLogger()): Promise<RegistryInstance> {
  const metrics = new Metrics();
  const store = new KafkaRegistryStore({ kafka, topic, logger, metrics });
  await store.start();
  const server = new RegistryServer({ store, metrics, logger, port: 0 });
  try {
    await server.start();
  } catch (err) {
    await store.stop();
    throw err;
  }
  return {
    url: server.url,
    store,
    metrics,
    stop: async () => {
      await server.stop();
      await store.stop();
    },
  };
}
