/** Redis for the speed layer: the one at REDIS_URL when it answers, otherwise our own. */
import { Redis } from 'ioredis';
import { freePort, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';

export async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
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

/** Returns the URL to use, and the PID when we had to start our own server. */
export async function ensureRedis(paths: StackPaths, url: string, ownUrl: string | undefined, log: (line: string) => void): Promise<{ url: string; pid?: number; reused: boolean }> {
  const own = ownRedisRunning(paths);
  if (own && ownUrl && (await redisAnswers(ownUrl))) return { url: ownUrl, pid: own, reused: true };
  if (await redisAnswers(url)) return { url, reused: true };
  const port = await freePort();
  log(`Redis at ${url} does not answer; starting redis-server on 127.0.0.1:${port}`);
  const pid = startDetached(paths, 'redis', 'redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', paths.state]);
  const newUrl = `redis://127.0.0.1:${port}`;
  await waitFor('redis-server', () => redisAnswers(newUrl), 20_000, () => !ownRedisRunning(paths));
  return { url: newUrl, pid, reused: false };
}
