/**
 * Acceptance: the archiver runs as its own process (batch/archiver.main.ts) and is killed with
 * SIGKILL at random moments, at least five times, while 100,000 events stream in; after a last
 * clean run the lake holds each event exactly once (count and distinct event_id with DuckDB).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic, rng } from '../traffic/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { num, openDuckDB } from '../core/duckdb.ts';
import { produceEvents } from './testing/fixtures.ts';
import { entryArgs } from '../testing/bundles.ts';

const N = 100_000;
const KILLS = 5;

describe('lake archiver under SIGKILL', () => {
  afterAll(runCleanups);

  it('holds each of 100,000 events exactly once after 5 kills at random moments', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'lake-kill', 3);
    const dlq = await createTopic(config, 'lake-kill-dlq', 1);
    const dataDir = tempDir('lake-kill');
    const env = {
      ...process.env,
      EVENTS_TOPIC: topic,
      DLQ_TOPIC: dlq,
      LAKE_GROUP: uniqueName('lake'),
      DATA_DIR: dataDir,
      LAKE_METRICS_PORT: '0',
      LAKE_ROLL_ROWS: '4000',
      LAKE_ROLL_AGE: '300ms',
      LAKE_SESSION_TIMEOUT: '6s',
      LOG_LEVEL: 'warn',
    };
    let child: ChildProcess | undefined;
    const startArchiver = () => {
      child = spawn(process.execPath, entryArgs('apps/lake-archiver.main.ts'), { env, stdio: ['ignore', 'ignore', 'inherit'] });
    };
    const db = await openDuckDB({ memoryLimit: '512MB', threads: 2, tempDir: join(dataDir, 'check') });
    const glob = join(dataDir, 'lake/events/*/*/*.parquet');
    const count = async (): Promise<{ n: number; d: number }> => {
      try {
        const r = (await db.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM read_parquet($g)`, { g: glob })).getRowObjectsJS()[0]!;
        return { n: num(r.n), d: num(r.d) };
      } catch {
        return { n: 0, d: 0 }; // no file yet, or one renamed away by recovery mid-read
      }
    };

    const from = Date.UTC(2026, 2, 14);
    const events = generateTraffic({ seed: 9, sites: ['a', 'b', 'c'], from, to: from + 6 * 3_600_000, events: N });
    const producing = produceEvents(kafkaClient(config), new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic), topic, events, [], 700); // a stream of about 35 s
    const random = rng(2026);
    startArchiver();
    for (let k = 0; k < KILLS; k++) {
      // Let it get somewhere (joined, spooling, rolling), then kill at a random moment.
      const before = (await count()).n;
      await waitUntil('the archiver to write something', async () => (await count()).n > before, 90_000, 200);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 1_500)));
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      startArchiver();
    }
    await producing;
    await waitUntil('all 100,000 events in the lake', async () => (await count()).n >= N, 180_000, 500);
    child!.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    const final = await count();
    db.close();
    expect(final.n).toBe(N);
    expect(final.d).toBe(N);
  }, 300_000);
});
