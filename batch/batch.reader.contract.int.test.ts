/**
 * The batch views against the read contract's shared suite, on real DuckDB: the events are
 * written to a lake in a temporary DATA_DIR, the real batch job computes both days, and the
 * answers come from a pinned BatchSnapshot. Everything must be exact; nothing may be refused.
 */
import { afterAll } from 'vitest';
import { viewReaderContract } from '../core/views.contract.ts';
import { onCleanup, runCleanups, tempDir } from '../testing/helpers.ts';
import { runBatch } from './batch.job.ts';
import { BatchReader } from './batch.reader.ts';
import { formatDay } from './lake.layout.ts';
import { writeLakeEvents } from './testing/lake.fixture.ts';

const DUCKDB = { memoryLimit: '512MB', threads: 2 };

afterAll(runCleanups);

viewReaderContract(
  'batch snapshot (DuckDB views)',
  async ({ events, from, to }) => {
    const dataDir = tempDir('batch-contract');
    await writeLakeEvents(dataDir, events);
    const run = await runBatch({ options: { dataDir, versionsKeep: 2, duckdb: DUCKDB } }, { from: formatDay(from), to: formatDay(to - 86_400_000) });
    if (run.status !== 'ok' || run.watermark !== to) throw new Error(`the batch run over the contract's days failed: ${JSON.stringify(run)}`);
    const reader = new BatchReader({ dataDir, duckdb: DUCKDB });
    onCleanup(() => reader.close());
    const snapshot = await reader.snapshot();
    if (!snapshot) throw new Error('no batch version after the run');
    return snapshot;
  },
  { setupTimeoutMs: 120_000 },
);
