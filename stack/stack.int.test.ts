/**
 * The stack on a second set of ports in a temporary root (so the shared broker keeps running):
 * cold start, SIGKILL of the broker, `stack up` again keeps topics and messages, `stack down`
 * leaves none of its processes.
 */
import { mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { testConfig, tempDir, runCleanups, uniqueName } from '../testing/helpers.ts';
import { freePort, isAlive, stackPaths } from '../core/processes.ts';
import { ensureRedis, redisAnswers } from './redis.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { stackDown, stackUp } from './stack.ts';

function ourProcesses(root: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(root);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('local stack lifecycle', () => {
  afterAll(runCleanups);

  it('survives a SIGKILL of the broker with its topics and messages, and stops cleanly', async () => {
    const repo = resolve(import.meta.dirname, '..');
    const root = tempDir('stack');
    symlinkSync(join(repo, 'stack'), join(root, 'stack'));
    mkdirSync(join(root, '.local/kafka'), { recursive: true });
    symlinkSync(stackPaths(repo).kafkaLibs, join(root, '.local/kafka/libs'));
    const [port, controller] = [await freePort(), await freePort()];
    const config = testConfig({ KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controller), KAFKA_HEAP: '384m', EVENTS_PARTITIONS: '2' });
    const quiet = () => undefined;
    try {
      const t0 = Date.now();
      const first = await stackUp(config, quiet, root);
      console.log(`cold stack-up: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      expect(first.kafka.reused).toBe(false);
      expect(first.kafka.pid).toBeGreaterThan(0);
      expect((await stackUp(config, quiet, root)).kafka).toMatchObject({ reused: true, pid: first.kafka.pid });

      const kafka = new Kafka({ clientId: 'stack-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
      const topic = uniqueName('survivor');
      const admin = kafka.admin();
      await admin.connect();
      await createTopicsWithLeaders(admin, [{ topic, numPartitions: 2 }]);
      await admin.disconnect();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 500 }, (_, i) => ({ key: `k${i % 7}`, value: `m${i}` })) });
      await producer.disconnect();

      const brokerPid = first.kafka.pid!;
      process.kill(brokerPid, 'SIGKILL');
      while (isAlive(brokerPid)) await new Promise((r) => setTimeout(r, 50));

      const second = await stackUp(config, quiet, root);
      expect(second.kafka.reused).toBe(false);
      expect(second.kafka.pid).not.toBe(first.kafka.pid);

      const admin2 = kafka.admin();
      await admin2.connect();
      expect(await admin2.listTopics()).toEqual(expect.arrayContaining([topic, config.EVENTS_TOPIC, config.DLQ_TOPIC]));
      await admin2.disconnect();
      const seen = new Set<string>();
      const consumer = kafka.consumer({ groupId: uniqueName('g') });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.add(message.value!.toString()) });
      const deadline = Date.now() + 60_000;
      while (seen.size < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await consumer.disconnect();
      expect(seen.size).toBe(500);
    } finally {
      await stackDown(quiet, root);
    }
    expect(ourProcesses(root)).toEqual([]);
  }, 240_000);

  it('starts its own redis-server when REDIS_URL does not answer, and stops only that one', async () => {
    const root = tempDir('redis');
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const quiet = () => undefined;
    const paths = stackPaths(root);
    try {
      const first = await ensureRedis(paths, dead, undefined, quiet);
      expect(first.url).not.toBe(dead);
      expect(first.pid).toBeGreaterThan(0);
      expect(await redisAnswers(first.url)).toBe(true);
      const again = await ensureRedis(paths, dead, first.url, quiet);
      expect(again).toMatchObject({ url: first.url, pid: first.pid, reused: true });
    } finally {
      await stackDown(quiet, root);
    }
    expect(ourProcesses(root)).toEqual([]);
    expect(await redisAnswers('redis://127.0.0.1:6379')).toBe(true);
  }, 60_000);
});
