/**
 * Dead-letter benchmarks (`make bench ONLY=dlq`):
 * - dlq_archive_letters_per_s: a DLQ topic pre-filled with BENCH_DLQ_LETTERS dead letters
 *   (JSON payloads of ~250 B, the collector's shape) archived by one DlqArchiver into the
 *   Parquet store, timed from the first stored file to the last (group join excluded).
 * - dlq_list_ms / dlq_stats_ms: `dlq list --code … --site …` (first 50) and `dlq stats`
 *   over that store (DuckDB reading every file), median of 5.
 * - dlq_replay_letters_per_s: `dlq replay` of BENCH_DLQ_REPLAY of those letters through the
 *   collector's pipeline to an events topic, with a transform repairing each record.
 * Everything shares the machine's two cores with the broker, the registry and Redis.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../core/config.ts';
import { createTopicsWithLeaders } from '../core/kafka-topics.ts';
import { createKafka } from '../core/clients.ts';
import { createLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites } from '../core/sites.ts';
import { ConfluentRegistryClient } from '../schemas/index.ts';
import { DeadLetterStore, DeadLetterWriter, DlqArchiver } from '../dlq/index.ts';
import { replayWith } from '../apps/index.ts';
import { median } from './figures.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: config.LOG_LEVEL, pretty: false }, 'bench-dlq');
const N = Number(process.env.BENCH_DLQ_LETTERS ?? 50_000);
const REPLAY = Number(process.env.BENCH_DLQ_REPLAY ?? 5_000);
const run = `bench-dlq-${Date.now().toString(36)}`;
const kafka = createKafka(config, logger.child({}, { level: 'error' }), run);
const admin = kafka.admin();
await admin.connect();
const dlqTopic = `${run}.dlq`;
const eventsTopic = `${run}.events`;
await createTopicsWithLeaders(admin, [{ topic: dlqTopic, numPartitions: 3, replicationFactor: 1 }, { topic: eventsTopic, numPartitions: 3, replicationFactor: 1 }]);
const dir = mkdtempSync(join(tmpdir(), 'twinlane-bench-dlq-'));
const store = new DeadLetterStore(join(dir, 'dlq'));

try {
  // Fill: what the collector writes for `"revenue": "<string>"` purchases, spread over sites.
  const writer = new DeadLetterWriter({ kafka, topic: dlqTopic, logger, metrics: new Metrics() });
  const sites = ['shop', 'blog', 'docs'];
  const now = Date.now();
  for (let i = 0; i < N; i += 2_000) {
    await writer.write(
      Array.from({ length: Math.min(2_000, N - i) }, (_, j) => {
        const k = i + j;
        const body = { id: randomUUID(), type: 'purchase', url: `https://shop.example/product/${k % 500}`, ts: now - (k % 3_600) * 1_000, revenue: String(10 + (k % 90)), currency: 'EUR', visitor: `v-${k % 5_000}` };
        return { stage: 'validate' as const, code: 'SCHEMA_VIOLATION' as const, field: 'revenue', message: 'revenue: expected number, got a string', siteId: sites[k % 3]!, firstSeen: now - (k % 86_400) * 1_000, payload: Buffer.from(JSON.stringify(body)), payloadFormat: 'json' as const };
      }),
    );
  }
  await writer.stop();

  // Archive.
  const metrics = new Metrics();
  const archiver = new DlqArchiver({ kafka, topic: dlqTopic, groupId: `${run}-archiver`, store, metrics, logger, breaker: { threshold: 0.5, minBatch: 20 }, statsRefreshMs: 3_600_000 });
  let first = 0;
  const archived = async () => Number(/twinlane_dlq_archived_total\{[^}]*\} (\d+)/.exec(await metrics.text())?.[1] ?? 0);
  await archiver.start();
  for (;;) {
    const n = await archived();
    if (n > 0 && first === 0) first = performance.now();
    if (n >= N) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const archiveSeconds = (performance.now() - first) / 1_000;
  await archiver.stop();
  const files = readdirSync(store.lettersDir, { recursive: true }).filter((f) => String(f).endsWith('.parquet')).length;
  console.log(`bench: dlq_archive_letters_per_s = ${Math.round(N / archiveSeconds)}`);
  console.log(`bench: dlq_store_files = ${files}`);

  // Queries.
  const listMs: number[] = [];
  const statsMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    let t = performance.now();
    await store.list({ code: ['SCHEMA_VIOLATION'], site: ['blog'] }, { limit: 50 });
    listMs.push(performance.now() - t);
    t = performance.now();
    await store.stats({}, 'hour');
    statsMs.push(performance.now() - t);
  }
  console.log(`bench: dlq_list_ms = ${median(listMs).toFixed(1)}`);
  console.log(`bench: dlq_stats_ms = ${median(statsMs).toFixed(1)}`);

  // Replay a slice (first-seen range) with a repairing transform.
  const slice = (await store.list({}, { limit: REPLAY, payload: false })).map((l) => l.id);
  const t0 = performance.now();
  const summary = await replayWith(
    { kafka, registry: new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), sites: loadSites(config.SITES_FILE), store, eventsTopic, logger, metrics: new Metrics() },
    config,
    { filter: { ids: slice }, transform: ({ json }) => ({ ...(json as object), revenue: Number((json as { revenue: string }).revenue) }) },
  );
  const replaySeconds = (performance.now() - t0) / 1_000;
  if (summary.replayed !== slice.length) throw new Error(`replayed ${summary.replayed} of ${slice.length}: ${JSON.stringify(summary.verdicts.find((v) => v.verdict !== 'pass'))}`);
  console.log(`bench: dlq_replay_letters_per_s = ${Math.round(slice.length / replaySeconds)}`);
} finally {
  store.close();
  await admin.deleteTopics({ topics: [dlqTopic, eventsTopic] }).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
