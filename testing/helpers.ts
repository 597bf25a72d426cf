/**
 * Integration-test helpers: every test gets UUID-named topics, groups and Redis key prefixes,
 * and registers their clean-up, so tests can run again and again on the same broker.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { Redis } from 'ioredis';
import { loadConfig, type ConfigValues } from '../core/config.ts';
import { redisClientOf } from '../core/clients.ts';
import { scanKeys, unlinkKeys, type RedisClient } from '../core/redis-client.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';

export function testConfig(overrides: Record<string, string> = {}): ConfigValues {
  return loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...overrides });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function kafkaClient(config: ConfigValues, clientId = uniqueName('test')): Kafka {
  return new Kafka({ clientId, brokers: config.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
}

const cleanups: (() => Promise<void>)[] = [];

/** Registers clean-up to run from `runCleanups()` (call it in afterAll). */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
}

export async function createTopic(config: ConfigValues, prefix: string, numPartitions = 3): Promise<string> {
  const topic = uniqueName(`test.${prefix}`);
  const admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    // The broker's default replication factor: 1 on the single stack, 3 on the cluster stack (where min.insync.replicas is 2).
    await createTopicsWithLeaders(admin, [{ topic, numPartitions }]);
  } finally {
    await admin.disconnect();
  }
  onCleanup(() => deleteTopic(config, topic));
  return topic;
}

async function deleteTopic(config: ConfigValues, topic: string): Promise<void> {
  const admin: Admin = kafkaClient(config).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/** A Redis client whose test keys all start with a unique prefix, deleted afterwards. */
export function testRedis(config: ConfigValues): { redis: RedisClient; prefix: string } {
  const redis = redisClientOf(config);
  const prefix = uniqueName('test') + ':';
  onCleanup(async () => {
    const keys: string[] = [];
    for await (const batch of scanKeys(redis, `*${prefix}*`)) keys.push(...batch);
    await unlinkKeys(redis, keys);
    redis.disconnect();
  });
  return { redis, prefix };
}

/**
 * A unique SPEED_KEY_PREFIX for services a test starts as processes, with every key under it
 * deleted afterwards: speed keys expire, but the store's format marker never does.
 */
export function speedKeyPrefix(config: ConfigValues, prefix: string): string {
  const keyPrefix = uniqueName(prefix);
  onCleanup(async () => {
    const redis = redisClientOf(config);
    try {
      for await (const batch of scanKeys(redis, `${keyPrefix}:*`)) await unlinkKeys(redis, batch);
    } finally {
      redis.disconnect();
    }
  });
  return keyPrefix;
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `twinlane-${prefix}-`));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A directory on a filesystem of `bytes` the test makes itself (a size-limited tmpfs), unmounted
 * by runCleanups; `mounted` is false where the machine forbids mounting (not root, no
 * CAP_SYS_ADMIN), and the directory is then an ordinary one on the host's disk.
 */
export function smallFilesystem(prefix: string, bytes: number): { dir: string; mounted: boolean } {
  const dir = tempDir(prefix);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return { dir, mounted: false };
  }
  onCleanup(async () => execFileSync('umount', ['-l', dir], { stdio: 'pipe' }) as unknown as void);
  return { dir, mounted: true };
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * A redis-server of the test's own, on a Unix socket (no port to race for), with `maxmemory`
 * bytes and noeviction, for tests that fill or flush a Redis: the shared one stays untouched.
 */
export async function privateRedis(maxmemory: number): Promise<{ redis: Redis; path: string }> {
  const dir = tempDir('redis');
  const path = join(dir, 'redis.sock');
  const child = spawn('redis-server', ['--port', '0', '--unixsocket', path, '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory', String(maxmemory), '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  onCleanup(async () => {
    child.kill('SIGKILL');
  });
  await waitUntil('the private redis-server', () => existsSync(path), 10_000, 50);
  const redis = new Redis({ path, maxRetriesPerRequest: 3 });
  onCleanup(async () => redis.disconnect());
  await waitUntil('the private redis-server answers', async () => (await redis.ping().catch(() => '')) === 'PONG', 10_000, 50);
  return { redis, path };
}
