/**
 * A full disk pauses the writers instead of failing them: on a small filesystem the test mounts
 * itself (tmpfs), the lake archiver, the dead-letter archiver and the batch job stop writing when
 * free space falls below the threshold (offsets stay, readiness says why), and resume by
 * themselves when it returns; the lake then holds every event exactly once and the store every
 * dead letter. Where the machine forbids mounting, free space comes from a source the test sets
 * (the test says so in its name).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskGuard, statfsFreeBytes, type FreeSpaceSource } from '../core/disk-guard.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics, MetricsServer } from '../core/metrics.ts';
import { DeadLetterStore, DeadLetterWriter, DlqArchiver } from '../dlq/index.ts';
import { EventCodec, MemoryRegistryClient } from '../schemas/index.ts';
import { createTopic, kafkaClient, runCleanups, smallFilesystem, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { generateTraffic } from '../traffic/index.ts';
import { runBatch } from './batch.job.ts';
import { LakeArchiver } from './lake.archiver.ts';
import { lakeEventCounts, produceEvents } from './testing/fixtures.ts';

const MB = 1024 * 1024;
const DAY = Date.UTC(2026, 2, 14);
const MIN_FREE = 24 * MB;
const fs = smallFilesystem('disk-full', 64 * MB);
/** The checker's own DuckDB scratch, off the small filesystem. */
const scratch = mkdtempSync(join(tmpdir(), 'twinlane-disk-check-'));

/** Fills the filesystem until `free` bytes are left (or, unmounted, makes the source say so); `free()` gives it back. */
function filler(dir: string, mounted: boolean): { source: FreeSpaceSource; fill(leave: number): Promise<void>; free(): void } {
  let simulated: number | undefined;
  const file = join(dir, 'filler');
  return {
    source: mounted ? statfsFreeBytes : async (p) => simulated ?? (await statfsFreeBytes(p)),
    async fill(leave) {
      if (!mounted) {
        simulated = leave;
        return;
      }
      const free = await statfsFreeBytes(dir);
      writeFileSync(file, Buffer.alloc(Math.max(0, free - leave)));
    },
    free() {
      simulated = undefined;
      rmSync(file, { force: true });
    },
  };
}

const lakeCount = (dataDir: string) => lakeEventCounts(dataDir, scratch);

describe(`disk guard (${fs.mounted ? 'a 64 MB tmpfs the test mounts' : 'mounting forbidden here: a free-space source the test sets'})`, () => {
  afterAll(async () => {
    await runCleanups();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('pauses the archivers and the batch job below the threshold and resumes them when space returns; nothing is lost', async () => {
    const config = testConfig();
    const dataDir = fs.dir;
    const disk = filler(dataDir, fs.mounted);
    const topic = await createTopic(config, 'disk-events', 2);
    const dlqTopic = await createTopic(config, 'disk-dlq', 1);
    const kafka = kafkaClient(config);
    const registry = new MemoryRegistryClient();
    const logger = silentLogger();
    const metrics = new Metrics('t_');
    const guard = (name: string) => new DiskGuard({ name, path: dataDir, minFreeBytes: MIN_FREE, intervalMs: 100, logger, metrics, freeBytes: disk.source });
    const lakeGuard = guard('lake');
    const dlqGuard = guard('dlq');
    const lakeGroup = uniqueName('disk-lake');
    const archiver = new LakeArchiver(
      { kafka, codec: new EventCodec(registry, topic), deadLetters: new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics }), diskGuard: lakeGuard, logger, metrics },
      { topic, groupId: lakeGroup, dataDir, rollRows: 1_000, rollAgeMs: 300, duckdb: { memoryLimit: '128MB', threads: 1 }, tickMs: 100 },
    );
    const store = new DeadLetterStore(join(dataDir, 'dlq'));
    const dlq = new DlqArchiver({ kafka, topic: dlqTopic, groupId: uniqueName('disk-dlq'), store, diskGuard: dlqGuard, metrics, logger, breaker: { threshold: 0.9, minBatch: 1_000 }, statsRefreshMs: 60_000 });
    const server = new MetricsServer(metrics, 0, '127.0.0.1', () => lakeGuard.readiness());
    await Promise.all([lakeGuard.start(), dlqGuard.start(), server.start()]);
    await Promise.all([archiver.start(), dlq.start()]);
    try {
      const events = [...generateTraffic({ seed: 11, sites: ['alpha'], from: DAY, to: DAY + 3_600_000, events: 4_000 })];
      const bad = (i: number) => ({ value: Buffer.from(`not avro ${i}`) });
      const codec = new EventCodec(registry, topic);
      await produceEvents(kafka, codec, topic, events.slice(0, 2_000), [bad(1), bad(2)]);
      await waitUntil('the first 2,000 events in the lake', async () => (await lakeCount(dataDir)).rows >= 2_000, 60_000, 200);
      await waitUntil('the first two dead letters stored', async () => (await store.count()) >= 2, 30_000, 200);

      // Full: both archivers pause, readiness says why, nothing more is written or committed.
      await disk.fill(MIN_FREE / 2);
      await waitUntil('the guards to see the disk low', () => lakeGuard.low && dlqGuard.low, 10_000, 50);
      const ready = await fetch(`http://127.0.0.1:${server.address()}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/paused: \d+ bytes free .* below DISK_MIN_FREE/);
      const admin = kafka.admin();
      await admin.connect();
      const committed = async () => (await admin.fetchOffsets({ groupId: lakeGroup, topics: [topic] }))[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      const before = await committed();
      await produceEvents(kafka, codec, topic, events.slice(2_000), [bad(3), bad(4), bad(5)]);
      await new Promise((r) => setTimeout(r, 2_500)); // several roll ages and guard checks
      expect((await lakeCount(dataDir)).rows).toBe(2_000);
      expect(await store.count()).toBe(2);
      expect(await committed()).toBe(before);
      expect(await metrics.text()).toContain('t_disk_paused{store="lake"} 1');

      // The batch job waits too: it has not finished while the disk is low.
      let batchDone = false;
      const batch = runBatch({ options: { dataDir, versionsKeep: 2, duckdb: { memoryLimit: '128MB', threads: 1 }, diskMinFreeBytes: MIN_FREE, diskCheckMs: 100 }, freeBytes: disk.source }, { dates: ['2026-03-14'] }).finally(() => (batchDone = true));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(batchDone).toBe(false);

      // Space returns: everything resumes by itself.
      disk.free();
      const record = await batch;
      expect(record.status).toBe('ok');
      await waitUntil('all 4,000 events in the lake', async () => (await lakeCount(dataDir)).rows >= 4_000, 60_000, 200);
      await waitUntil('all five dead letters stored', async () => (await store.count()) >= 5, 30_000, 200);
      expect((await fetch(`http://127.0.0.1:${server.address()}/readyz`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1_000)); // a duplicate roll would land by now
      expect(await lakeCount(dataDir)).toEqual({ rows: 4_000, ids: 4_000 });
      expect(await store.count()).toBe(5);
      expect(await metrics.text()).toContain('t_disk_pauses_total{store="dlq"} 1');
      await admin.disconnect();
    } finally {
      await Promise.all([archiver.stop(), dlq.stop()]);
      await Promise.all([lakeGuard.stop(), dlqGuard.stop(), server.stop()]);
    }
  }, 120_000);
});
