/**
 * The ClickHouse views against the read contract's shared suite, with the DuckDB reader's
 * expectations: the events are written to a lake in a temporary DATA_DIR, the real batch job
 * computes the days, the real publisher copies the version into a ClickHouse database of its own,
 * and the answers come from a pinned ClickHouseSnapshot. Everything must be exact; nothing may be
 * refused.
 */
import { afterAll } from 'vitest';
import { viewReaderContract } from '../core/views.contract.ts';
import { runBatch, formatDay } from '../batch/index.ts';
import { writeLakeEvents } from '../batch/testing/lake.fixture.ts';
import { onCleanup, runCleanups, tempDir } from '../testing/helpers.ts';
import { viewsFixture } from './testing/views.fixture.ts';

const DUCKDB = { memoryLimit: '512MB', threads: 2 };

afterAll(runCleanups);

viewReaderContract(
  'ClickHouse views (published batch version)',
  async ({ events, from, to }) => {
    const dataDir = tempDir('ch-views-contract');
    await writeLakeEvents(dataDir, events);
    const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { from: formatDay(from), to: formatDay(to - 86_400_000) });
    if (run.status !== 'ok' || run.watermark !== to) throw new Error(`the batch run over the contract's days failed: ${JSON.stringify(run)}`);
    const views = viewsFixture(dataDir);
    onCleanup(() => views.close());
    const published = await views.publish();
    if (published.version !== run.version || !published.moved) throw new Error(`the publisher did not move ClickHouse's pointer to ${run.version}: ${JSON.stringify(published)}`);
    const snapshot = await views.reader.snapshot();
    if (!snapshot) throw new Error('no ClickHouse version after publishing');
    return snapshot;
  },
  { setupTimeoutMs: 180_000 },
);
