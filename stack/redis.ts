/** Redis for the speed layer: the one at REDIS_URL when it answers, otherwise our own. */
import { Redis } from 'ioredis';
import { freePort, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';

/** A client for one look at a Redis that may not be there: no retries, errors left to the caller. */
function probeClient(url: string): Redis {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

export async function redisAnswers(url: string): Promise<boolean> {
  const client = probeClient(url);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export function ownRedisRunning(paths: StackPaths): number | undefined {
  return runningPid(paths, 'redis', 'redis-server');
}

/**
 * A bounded Redis refuses writes when full instead of evicting: an evicted counter or offset
 * record would be a wrong number, a refused write is a pause (the speed consumer waits, Kafka
 * keeps the events). A loopback Redis the stack uses gets `maxmemory` (when it has none) and
 * `noeviction`; a remote one is only checked (the speed consumer warns at start).
 */
export async function boundLocalRedis(url: string, maxmemory: number, log: (line: string) => void): Promise<void> {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) return;
  const client = probeClient(url);
  try {
    await client.connect();
    const [, current] = (await client.config('GET', 'maxmemory')) as [string, string];
    const [, policy] = (await client.config('GET', 'maxmemory-policy')) as [string, string];
    if (Number(current) === 0) {
      await client.config('SET', 'maxmemory', String(maxmemory));
      log(`Redis at ${url}: maxmemory set to ${Math.round(maxmemory / 2 ** 20)} MB (REDIS_MAXMEMORY)`);
    }
    if (policy !== 'noeviction') {
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      log(`Redis at ${url}: maxmemory-policy ${policy} → noeviction (a full Redis pauses the speed layer instead of losing counts)`);
    }
  } catch (err) {
    log(`Redis at ${url}: could not set maxmemory/noeviction (${(err as Error).message}); set them in its configuration`);
  } finally {
    client.disconnect();
  }
}

/** Returns the URL to use, and the PID when we had to start our own server (bounded by `maxmemory` bytes, noeviction). */
export async function ensureRedis(paths: StackPaths, url: string, ownUrl: string | undefined, log: (line: string) => void, maxmemory = 2 * 2 ** 30): Promise<{ url: string; pid?: number; reused: boolean }> {
  const own = ownRedisRunning(paths);
  if (own && ownUrl && (await redisAnswers(ownUrl))) return { url: ownUrl, pid: own, reused: true };
  if (await redisAnswers(url)) {
    await boundLocalRedis(url, maxmemory, log);
    return { url, reused: true };
  }
  const port = await freePort();
  log(`Redis at ${url} does not answer; starting redis-server on 127.0.0.1:${port}`);
  const pid = startDetached(paths, 'redis', 'redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', paths.state, '--maxmemory', String(maxmemory), '--maxmemory-policy', 'noeviction']);
  const newUrl = `redis://127.0.0.1:${port}`;
  await waitFor('redis-server', () => redisAnswers(newUrl), 20_000, () => !ownRedisRunning(paths));
  return { url: newUrl, pid, reused: false };
}
