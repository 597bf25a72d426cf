/**
 * Publish only complete days (privacy and lifecycle issue, part 4): the lake archiver stopped at
 * 23:50 while traffic flowed on, the nightly batch (the scheduler's batch port) waits its bound,
 * then refuses to publish that day, naming it and the partitions behind (and W stays before it);
 * once the archiver is back and has caught up, the next run publishes it, equal to the truth.
 * Real Kafka (record timestamps as the collector would have produced them), registry, lake
 * archiver, batch job and DuckDB reader.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { batchPorts } from '../apps/index.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { ConfluentRegistryClient, EventCodec, type TwinlaneEvent } from '../schemas/index.ts';
import { alignDown } from '../core/views.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { expectBucketsEqualTruth } from '../testing/truth.assert.ts';
import { truthSeries } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import { BatchReader, formatDay, LakeArchiver, readProgress } from './index.ts';

const DAY = 86_400_000;
const MIN = 60_000;
/**
 * Two days before the latest midnight at least an hour ago: the traffic runs 30 minutes into the
 * next day, and that day's end and the allowed lateness (10 minutes) are past too, whatever the
 * time of day, so only the stopped archiver can hold a day.
 */
const D = alignDown(Date.now() - 60 * MIN, 'day') - 2 * DAY;
const END = D + DAY;

/** Produces events with the record timestamps a collector would have given them (their received time). */
async function produce(kafka: Kafka, codec: EventCodec, topic: string, events: readonly TwinlaneEvent[]): Promise<void> {
  await codec.init();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 1_000) {
      await producer.send({ topic, acks: -1, messages: events.slice(i, i + 1_000).map((e) => ({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e), timestamp: String(e.received_time) })) });
    }
  } finally {
    await producer.disconnect();
  }
}

describe('the nightly batch publishes only days the lake covers', () => {
  afterAll(runCleanups);

  it('holds a day whose end the stopped archiver does not cover, fails clearly, and publishes it once the archiver caught up', async () => {
    const topic = await createTopic(testConfig(), 'complete-days', 2);
    const dataDir = tempDir('complete-days');
    const config = testConfig({ DATA_DIR: dataDir, EVENTS_TOPIC: topic, BATCH_COMPLETE_WAIT: '2s', BATCH_ALLOWED_LATENESS: '10m', BATCH_MEMORY_LIMIT: '512MB' });
    const kafka = kafkaClient(config);
    const registry = new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL);
    const logger = silentLogger();
    const metrics = new Metrics('t_');
    const group = uniqueName('complete-lake');
    const archiver = () =>
      new LakeArchiver(
        { kafka, codec: new EventCodec(registry, topic), deadLetters: new DeadLetterWriter({ kafka, topic: `${topic}-dlq`, logger, metrics }), logger, metrics },
        { topic, groupId: group, dataDir, rollRows: 100_000, rollAgeMs: 300, duckdb: { memoryLimit: '256MB', threads: 1 }, tickMs: 100 },
      );
    const traffic = (from: number, to: number, seed: number) => [...generateTraffic({ seed, sites: ['shop', 'blog'], from, to, events: 2_000 })].map((e) => ({ ...e, received_time: e.event_time }));
    // Until 23:50 the archiver keeps up; then it stops while 23:50–00:30 flows on (40 minutes of traffic).
    const before = traffic(D + 22 * 60 * MIN, END - 10 * MIN, 1);
    const after = traffic(END - 10 * MIN, END + 30 * MIN, 2);
    const codec = new EventCodec(registry, topic);
    const first = archiver();
    await first.start();
    await produce(kafka, codec, topic, before);
    await waitUntil('the archiver caught up with 23:50', () => [...readProgress(dataDir, topic).values()].reduce((n, p) => n + Number(p.offset), 0) >= before.length, 30_000);
    await first.stop();
    await produce(kafka, codec, topic, after);

    const ports = batchPorts(config, logger);
    try {
      const t0 = Date.now();
      await expect(ports.batch.run({ signal: new AbortController().signal })).rejects.toMatchObject({ code: 'LAKE_INCOMPLETE', message: expect.stringMatching(new RegExp(`not published: ${formatDay(D)}.*partition \\d+ archived through`)) });
      expect(Date.now() - t0, 'it waited its bound first').toBeGreaterThanOrEqual(2_000);
      const reader = new BatchReader({ dataDir });
      try {
        // Nothing of day D was published: W stays before it, so serving keeps the speed layer's numbers.
        expect((await reader.watermark()) ?? -Infinity).toBeLessThanOrEqual(D);

        const second = archiver();
        await second.start();
        await waitUntil('the archiver caught up', () => [...readProgress(dataDir, topic).values()].reduce((n, p) => n + Number(p.offset), 0) >= before.length + after.length, 30_000);
        await second.stop();
        const run = await ports.batch.run({ signal: new AbortController().signal });
        expect(run.published).toBe(true);
        expect(run.days).toContain(formatDay(D));
        expect(await reader.watermark()).toBeGreaterThanOrEqual(END);
        const all = [...before, ...after];
        for (const site of ['shop', 'blog']) {
          const q = { site, from: D, to: END, grain: 'hour' as const, metrics: ['pageviews', 'events', 'purchases'] as const };
          const served = (await reader.series({ ...q, metrics: [...q.metrics] })).map((p) => ({ ...p, source: 'batch' }));
          expectBucketsEqualTruth(served, truthSeries(all, q), `${site} day ${formatDay(D)}`, [...q.metrics]);
        }
      } finally {
        await reader.close();
      }
    } finally {
      await ports.close();
    }
  }, 120_000);
});
