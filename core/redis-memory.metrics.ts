/**
 * Redis memory as gauges read at each scrape, one series per node (every master of a cluster):
 * the speed store stops taking writes at maxmemory (the consumer waits, Kafka keeps the events),
 * so an operator is warned well before (ops/prometheus/alerts.yml, TwinlaneRedisMemoryHigh).
 */
import type { Metrics } from './metrics.ts';
import { isCluster, type RedisClient } from './redis-client.ts';

/** `used_memory` and `maxmemory` of an `INFO memory` answer (maxmemory 0: no limit). */
export function parseInfoMemory(info: string): { used: number; max: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { used: field('used_memory'), max: field('maxmemory') };
}

export function redisMemoryMetrics(metrics: Metrics, redis: RedisClient): void {
  const read = async (): Promise<{ node: string; used: number; max: number }[]> => {
    const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
    return Promise.all(
      nodes.map(async (n) => {
        const { used, max } = parseInfoMemory(await n.info('memory'));
        return { node: `${n.options.host ?? '127.0.0.1'}:${n.options.port ?? 6379}`, used, max };
      }),
    );
  };
  // One read serves both gauges of a scrape; a Redis that does not answer leaves them empty
  // (the scrape itself must not fail: the service's other metrics say more then).
  let pending: Promise<{ node: string; used: number; max: number }[]> | null = null;
  const once = () => {
    pending ??= read().finally(() => setTimeout(() => (pending = null), 1_000).unref());
    return pending;
  };
  const gauge = (name: string, help: string, pick: (r: { used: number; max: number }) => number) =>
    metrics.collectedGauge(name, help, ['node'], async (g) => {
      g.reset();
      for (const r of await once().catch(() => [])) if (Number.isFinite(pick(r))) g.set({ node: r.node }, pick(r));
    });
  gauge('redis_used_memory_bytes', 'Memory Redis uses (INFO memory used_memory), per node', (r) => r.used);
  gauge('redis_maxmemory_bytes', 'Redis maxmemory (0: no limit), per node', (r) => r.max);
}
