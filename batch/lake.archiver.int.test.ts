import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { DeadLetterWriter } from '../dlq/index.ts';
import { generateTraffic } from '../traffic/index.ts';
import { EventCodec } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { openDuckDB, num } from '../core/duckdb.ts';
import { LakeArchiver } from './lake.archiver.ts';
import { parseLakeFileName } from './lake.layout.ts';
import { MemoryRegistryClient } from '../schemas/index.ts';
import { produceEvents } from './testing/fixtures.ts';

const DAY = Date.UTC(2026, 2, 14);

describe('lake archiver', () => {
  afterAll(runCleanups);

  it('archives every event once into dt/hour Parquet named by partition and offsets, and dead-letters bad bytes', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'lake', 3);
    const dlqTopic = await createTopic(config, 'lake-dlq', 1);
    const dataDir = tempDir('lake');
    const kafka = kafkaClient(config);
    const registry = new MemoryRegistryClient();
    const events = [...generateTraffic({ seed: 7, sites: ['alpha', 'beta'], from: DAY - 3_600_000, to: DAY + 3 * 3_600_000, events: 20_000 })];
    await produceEvents(kafka, new EventCodec(registry, topic), topic, events, [{ value: Buffer.from('not avro') }, { value: Buffer.from([0, 0, 0, 0, 99, 1, 2]) }]);

    const metrics = new Metrics('t_');
    const logger = silentLogger();
    const archiver = new LakeArchiver(
      { kafka, codec: new EventCodec(registry, topic), deadLetters: new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics }), logger, metrics },
      { topic, groupId: uniqueName('lake'), dataDir, rollRows: 7_000, rollAgeMs: 500, duckdb: { memoryLimit: '256MB', threads: 2 }, tickMs: 100 },
    );
    await archiver.start();
    const archived = metrics.registry.getSingleMetric('t_lake_events_total')!;
    await waitUntil('20,000 events in the lake', async () => (await archived.get()).values[0]!.value >= 20_000, 60_000);
    await archiver.stop();

    const db = await openDuckDB({ memoryLimit: '256MB', threads: 2, tempDir: join(dataDir, 'tmp') });
    const r = await db.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d, min(event_time) AS lo, count(DISTINCT dt) AS days FROM read_parquet($g, hive_partitioning = true)`, { g: join(dataDir, 'lake/events/*/*/*.parquet') });
    const row = r.getRowObjectsJS()[0]!;
    expect(num(row.n)).toBe(20_000);
    expect(num(row.d)).toBe(20_000);
    expect(num(row.days)).toBe(2);
    // Each file sits in the hour of its events and names its partition and offset range.
    const bad = await db.conn.runAndReadAll(
      `SELECT count(*) AS n FROM read_parquet($g, hive_partitioning = true, hive_types_autocast = false) WHERE strftime(event_time, '%Y-%m-%d') <> dt OR strftime(event_time, '%H') <> hour`,
      { g: join(dataDir, 'lake/events/*/*/*.parquet') },
    );
    expect(num(bad.getRowObjectsJS()[0]!.n)).toBe(0);
    const hours = readdirSync(join(dataDir, 'lake/events/dt=2026-03-14'));
    expect(hours).toContain('hour=00');
    for (const h of hours) for (const f of readdirSync(join(dataDir, 'lake/events/dt=2026-03-14', h))) expect(parseLakeFileName(f)?.topic).toBe(topic);
    db.close();

    // The two bad records went to the dead-letter topic with the decode stage.
    const dl = metrics.registry.getSingleMetric('t_lake_dead_letters_total')!;
    expect((await dl.get()).values.reduce((n, v) => n + v.value, 0)).toBe(2);
  });
});
