/**
 * Events written with the previous schema (v1: no hostname, no screen_width) take the codec's
 * schema resolution instead of the encoder's fast path; both kinds land in the lake with every
 * value exact and the v1 events carrying the reader's defaults.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EventCodec } from '../schemas/index.ts';
import { EVENT_SCHEMA_V1, type TwinlaneEvent } from '../schemas/index.ts';
import { MemoryRegistryClient } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { openDuckDB } from '../core/duckdb.ts';
import { LakeArchiver } from './lake.archiver.ts';
import { byEventId, lakeColumns, produceEvents, readLakeEvents } from './testing/fixtures.ts';

const DAY = Date.UTC(2026, 2, 14);

describe('lake archiver across schema versions', () => {
  afterAll(runCleanups);

  it('archives v1 and v2 events exactly, v1 ones with the defaults of the fields they lack', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'lake-evolution', 2);
    const dlqTopic = await createTopic(config, 'lake-evolution-dlq', 1);
    const dataDir = tempDir('lake-evolution');
    const kafka = kafkaClient(config);
    const registry = new MemoryRegistryClient();
    const all = [...generateTraffic({ seed: 12, sites: ['a'], from: DAY, to: DAY + 3_600_000, events: 4_000 })].map((e, i) => ({
      ...e,
      title: i % 7 === 0 ? 'a "quoted", multi\nline title' : e.title,
      hostname: i % 2 === 0 ? e.hostname : 'ignored-by-v1',
    }));
    const v1 = all.filter((_, i) => i % 2 === 1);
    const v2 = all.filter((_, i) => i % 2 === 0);
    await produceEvents(kafka, new EventCodec(registry, topic, EVENT_SCHEMA_V1), topic, v1);
    await produceEvents(kafka, new EventCodec(registry, topic), topic, v2);

    const metrics = new Metrics('t_');
    const logger = silentLogger();
    const archiver = new LakeArchiver(
      { kafka, codec: new EventCodec(registry, topic), deadLetters: new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics }), logger, metrics },
      { topic, groupId: uniqueName('lake'), dataDir, rollRows: 100_000, rollAgeMs: 500, duckdb: { memoryLimit: '256MB', threads: 2 }, tickMs: 100 },
    );
    await archiver.start();
    const archived = metrics.registry.getSingleMetric('t_lake_events_total')!;
    await waitUntil('4,000 events in the lake', async () => (await archived.get()).values[0]!.value >= all.length, 60_000);
    await archiver.stop();

    const db = await openDuckDB({ memoryLimit: '256MB', threads: 2, tempDir: join(dataDir, 'tmp') });
    const got = await readLakeEvents(db, join(dataDir, 'lake/events/*/*/*.parquet'));
    const expected = [...v2, ...v1.map((e): TwinlaneEvent => ({ ...e, hostname: '', screen_width: null }))].map(lakeColumns);
    expect(got.events).toEqual(expected.sort(byEventId));
    db.close();
  });
});
