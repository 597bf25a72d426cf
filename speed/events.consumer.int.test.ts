/**
 * The consumer against the real broker and Redis: two instances of one group share a topic's
 * partitions; events are framed with an in-test registry (the codec takes any RegistryClient).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { CircuitBreaker, DeadLetterWriter, fromMessage } from '../dlq/index.ts';
import { EventCodec } from '../schemas/index.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { frame } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, testConfig, testRedis, uniqueName, waitUntil } from '../testing/helpers.ts';
import { SpeedConsumer } from './events.consumer.ts';
import { speedOptions } from './options.ts';
import { SpeedKeys } from './redis.keys.ts';
import { SpeedReader } from './speed.reader.ts';
import { traffic } from './testing/speed.fixture.ts';
import type { Metric } from '../core/views.ts';
import { pickMetrics, truthSeries, truthTotals } from '../testing/truth.ts';
import { MemoryRegistryClient } from '../schemas/index.ts';

describe('speed consumer on the real broker and Redis', () => {
  afterAll(runCleanups);

  it('two instances roll up exactly, skip what batch covers, dead-letter what does not decode', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'speed-events', 4);
    const dlqTopic = await createTopic(config, 'speed-dlq', 1);
    const { redis, prefix } = testRedis(config);
    const kafka = kafkaClient(config);
    const registry = new MemoryRegistryClient();
    const codec = new EventCodec(registry, topic);
    await codec.init();

    const events = traffic({ events: 20_000 });
    const w = events[0]!.event_time + 5 * 60_000; // the first minutes are "covered by batch"
    const expected = events.filter((e) => e.event_time >= w);

    const options = speedOptions(config, { topic, groupId: uniqueName('speed'), keyPrefix: prefix + 'speed', sessionTimeoutMs: 6_000 });
    const consumers = [0, 1].map(() => {
      const metrics = new Metrics('twinlane_');
      const logger = silentLogger();
      const deadLetters = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics });
      const breaker = new CircuitBreaker({ consumer: 'speed', threshold: 0.5, minBatch: 20, metrics, logger });
      return {
        metrics,
        deadLetters,
        consumer: new SpeedConsumer({ kafka, redis, registry, deadLetters, breaker, watermark: { watermark: async () => w }, logger, metrics, options }),
      };
    });
    await Promise.all(consumers.map((c) => c.consumer.start()));
    // Both members hold partitions before anything is produced, so the instances share the work.
    const admin = kafka.admin();
    await admin.connect();
    await waitUntil('two members in the group', async () => {
      const { groups } = await admin.describeGroups([options.groupId]);
      return groups[0]!.state === 'Stable' && groups[0]!.members.length === 2;
    }, 60_000, 250);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < events.length; i += 2_000) {
      await producer.send({ topic, messages: events.slice(i, i + 2_000).map((e) => ({ key: `${e.site_id}:${e.visitor_id}`, value: codec.encode(e) })) });
    }
    const garbage = [Buffer.from('{"not":"avro"}'), frame(999, Buffer.from([1, 2, 3]))];
    await producer.send({ topic, messages: garbage.map((value) => ({ key: 'x', value })) });
    await producer.disconnect();

    const reader = new SpeedReader({ redis, keys: new SpeedKeys(options.keyPrefix), ttlMs: options.ttlMs });
    const from = Math.floor(events[0]!.event_time / 60_000) * 60_000;
    const to = Date.now();
    const sites = [...new Set(expected.map((e) => e.site_id))];
    const total = async () => {
      let n = 0;
      for (const site of sites) n += (await reader.totals({ site, from, to, metrics: ['pageviews'] })).pageviews!;
      return n;
    };
    const expectedPv = expected.filter((e) => !e.is_bot && e.type === 'pageview').length;
    await waitUntil('every page view rolled up', async () => (await total()) >= expectedPv, 60_000, 250);

    const counters: Metric[] = ['pageviews', 'events', 'purchases', 'revenue', 'bot_pageviews'];
    for (const site of sites) {
      const minutes = truthSeries(expected, { site, grain: 'minute', from, to });
      const points = await reader.series({ site, from, to, grain: 'minute', metrics: counters });
      for (const p of points) {
        expect(p.values, `${site} ${new Date(p.start).toISOString()}`).toEqual(pickMetrics(minutes.get(p.start)!, counters));
      }
      const v = (await reader.totals({ site, from, to, metrics: ['visitors'] })).visitors!;
      const exact = truthTotals(expected, { site, from, to }).visitors;
      expect(Math.abs(v - exact) / exact).toBeLessThan(0.02);
    }
    let texts: string[] = [];
    const sum = (re: RegExp) => texts.reduce((s, t) => s + Number(re.exec(t)?.[1] ?? 0), 0);
    // Counters move after Redis has a batch (and the garbage comes last): wait for them to settle.
    await waitUntil('every record counted', async () => {
      texts = await Promise.all(consumers.map((c) => c.metrics.text()));
      return sum(/twinlane_speed_events_consumed_total (\d+)/) >= events.length + garbage.length;
    }, 30_000, 100);
    expect(sum(/twinlane_speed_events_consumed_total (\d+)/)).toBe(events.length + garbage.length);
    expect(sum(/twinlane_speed_events_skipped_total\{reason="before_watermark"\} (\d+)/)).toBe(events.length - expected.length);
    expect(texts.every((t) => /twinlane_speed_events_consumed_total [1-9]/.test(t)), 'both instances consumed').toBe(true);
    // Batches handled at once meet new sites together: no read of theirs passes for a lost epoch,
    // no rebuild starts, nothing is skipped for an epoch.
    expect(sum(/twinlane_speed_epochs_lost_total (\d+)/)).toBe(0);
    expect(sum(/twinlane_speed_events_skipped_total\{reason="before_epoch"\} (\d+)/)).toBe(0);

    await Promise.all(consumers.map((c) => c.consumer.stop()));
    await Promise.all(consumers.map((c) => c.deadLetters.stop()));

    const letters: ReturnType<typeof fromMessage>[] = [];
    const dlqConsumer = kafka.consumer({ groupId: uniqueName('dlq-read') });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({ topic: dlqTopic, fromBeginning: true });
    await dlqConsumer.run({ eachMessage: async ({ message }) => void letters.push(fromMessage(message.value, message.headers)) });
    await waitUntil('both dead letters', () => letters.length >= 2, 30_000);
    await dlqConsumer.disconnect();
    expect(letters.map((l) => l.code).sort()).toEqual(['PAYLOAD_FORMAT', 'UNKNOWN_SCHEMA_ID']);
    expect(letters.every((l) => l.stage === 'decode' && l.source?.topic === topic)).toBe(true);
    expect(letters.map((l) => l.payload.toString('hex')).sort()).toEqual(garbage.map((g) => g.toString('hex')).sort());
  });

  it('stops without committing when most of a batch would be dead-lettered', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'speed-bad', 1);
    const dlqTopic = await createTopic(config, 'speed-bad-dlq', 1);
    const { redis, prefix } = testRedis(config);
    const kafka = kafkaClient(config);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 100 }, (_, i) => ({ value: Buffer.from(`broken ${i}`) })) });
    await producer.disconnect();
    const metrics = new Metrics('twinlane_');
    const logger = silentLogger();
    const deadLetters = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics });
    let fatal: unknown;
    const options = speedOptions(config, { topic, groupId: uniqueName('speed'), keyPrefix: prefix + 'speed', sessionTimeoutMs: 6_000 });
    const consumer = new SpeedConsumer({
      kafka, redis, registry: new MemoryRegistryClient(), deadLetters, watermark: { watermark: async () => null }, logger, metrics, options,
      breaker: new CircuitBreaker({ consumer: 'speed', threshold: 0.5, minBatch: 20, metrics, logger }),
      onFatal: (err) => (fatal = err),
    });
    await consumer.start();
    await waitUntil('the circuit to open', () => fatal !== undefined, 30_000);
    await consumer.stop();
    await deadLetters.stop();
    expect((fatal as { code: string }).code).toBe('CIRCUIT_OPEN');
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: options.groupId, topics: [topic] });
    const dlqEnd = await admin.fetchTopicOffsets(dlqTopic);
    await admin.disconnect();
    expect(committed!.partitions[0]!.offset).toBe('-1');
    expect(dlqEnd[0]!.high).toBe('0');
  });
});

export type { TwinlaneEvent };
