/**
 * Regression: a lake archiver that lost its partitions while it was paused rolled its stale spools
 * into the lake when it woke up, beside the files of the archiver that had taken the partitions
 * over and read the same offsets again (issue 20: 55 of 16,000 rows twice after a rebalance during
 * a roll). Reproduced with two archiver processes of one group under a steady stream: one is
 * SIGSTOPped holding a spool (rolls by age only), its partitions move to the other after the
 * session timeout and are archived and committed there, then it is SIGCONTed: its timer rolls the
 * spool at once, before kafkajs tells it of the rebalance. Without the partition leases
 * (lake.lease.ts) its files land beside the successor's; with them the late roll is dropped and
 * the lake holds each event exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTraffic } from '../traffic/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, tempDir, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { num, openDuckDB } from '../core/duckdb.ts';
import { produceEvents } from './testing/fixtures.ts';
import { entryArgs } from '../testing/bundles.ts';

const N = 40_000;
const PAUSES = 2;

describe('lake archiver paused while its partitions move (zombie owner)', () => {
  afterAll(runCleanups);

  it('drops the late roll of an archiver that lost its partitions: each event once', async () => {
    const config = testConfig();
    const topic = await createTopic(config, 'lake-zombie', 4);
    const dlq = await createTopic(config, 'lake-zombie-dlq', 1);
    const group = uniqueName('lake');
    const dataDir = tempDir('lake-zombie');
    const env = {
      ...process.env,
      EVENTS_TOPIC: topic,
      DLQ_TOPIC: dlq,
      LAKE_GROUP: group,
      DATA_DIR: dataDir,
      LAKE_METRICS_PORT: '0',
      // Rolls by age only, so a paused archiver always holds up to 3 s of spooled records.
      LAKE_ROLL_ROWS: '1000000',
      LAKE_ROLL_AGE: '3s',
      LAKE_SESSION_TIMEOUT: '6s',
      LOG_LEVEL: 'warn',
    };
    const children: ChildProcess[] = [];
    let fenced = 0;
    const start = (): ChildProcess => {
      const c = spawn(process.execPath, entryArgs('apps/lake-archiver.main.ts'), { env, stdio: ['ignore', 'pipe', 'inherit'] });
      // The archivers' warnings: a dropped late roll says so (lake_roll_fenced).
      c.stdout!.on('data', (b: Buffer) => void (fenced += b.toString().split('"event":"lake_roll_fenced"').length - 1));
      children.push(c);
      return c;
    };
    const db = await openDuckDB({ memoryLimit: '512MB', threads: 1, tempDir: join(dataDir, 'check') });
    const glob = join(dataDir, 'lake/events/*/*/*.parquet');
    const count = async (): Promise<{ n: number; d: number }> => {
      try {
        const r = (await db.conn.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM read_parquet($g)`, { g: glob })).getRowObjectsJS()[0]!;
        return { n: num(r.n), d: num(r.d) };
      } catch {
        return { n: 0, d: 0 }; // no file yet, or one deleted by recovery mid-read
      }
    };
    const admin = kafkaClient(config).admin();
    await admin.connect();
    /** Whether the group committed, on every partition, at least what the topic held at `ends`. */
    const committedPast = async (ends: Map<number, bigint>): Promise<boolean> => {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const done = new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
      return [...ends].every(([p, end]) => (done.get(p) ?? -1n) >= end);
    };
    const topicEnds = async (): Promise<Map<number, bigint>> => new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));

    try {
      const from = Date.UTC(2026, 2, 14);
      const events = generateTraffic({ seed: 20, sites: ['a', 'b', 'c'], from, to: from + 3 * 3_600_000, events: N });
      // 20 sends of 2,000 about 1.5 s apart: a stream that outlasts both pauses.
      const producing = produceEvents(kafkaClient(config), new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), topic), topic, events, [], 1_500);
      const archivers = [start(), start()];
      await waitUntil('both archivers to write something', async () => (await count()).n > 0, 90_000, 200);
      for (let k = 0; k < PAUSES; k++) {
        const zombie = archivers[k % 2]!;
        await new Promise((r) => setTimeout(r, 2_000)); // it holds a spool: rolls come every 3 s
        zombie.kill('SIGSTOP');
        // Its partitions move after the session timeout; the other archiver reads them from the
        // committed offsets and commits past everything produced while it was paused.
        await new Promise((r) => setTimeout(r, 1_000));
        const ends = await topicEnds();
        await waitUntil('the other archiver to take over and commit', () => committedPast(ends), 60_000, 250);
        zombie.kill('SIGCONT');
        await new Promise((r) => setTimeout(r, 4_000)); // its late roll, then it rejoins
      }
      await producing;
      const ends = await topicEnds();
      await waitUntil('everything archived and committed', async () => (await committedPast(ends)) && (await count()).d >= N, 120_000, 500);
      for (const c of archivers) c.kill('SIGTERM');
      await Promise.all(archivers.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
      const final = await count();
      console.log(`lake: ${final.n} rows, ${final.d} distinct; ${fenced} late rolls dropped`);
      expect(final.d).toBe(N);
      expect(final.n, `${final.n - N} rows twice`).toBe(N);
      expect(fenced, 'a paused archiver rolled after its partitions moved').toBeGreaterThan(0);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await admin.disconnect();
      db.close();
    }
  }, 300_000);
});
