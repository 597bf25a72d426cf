/**
 * The import's resume point against its in-flight markers (real files, real DuckDB): a chunk the
 * checkpoint covers keeps its files even when the process died before its marker went; a chunk
 * past the checkpoint loses them, so it is written once more and lands once.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErasureList } from '../core/erasure.list.ts';
import { InflightMarkers, lakePaths } from '../batch/index.ts';
import { EventCodec, MemoryRegistryClient } from '../schemas/index.ts';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { ImportLakeSink } from './import.lake.sink.ts';

describe('ImportLakeSink.recover', () => {
  afterAll(runCleanups);

  it('keeps the files of the chunk ending at the checkpoint and deletes those of chunks past it', async () => {
    const dataDir = tempDir('import-sink');
    const importId = 'events-sites-abc';
    const paths = lakePaths(dataDir);
    const markers = new InflightMarkers(paths.inflight, 'imports', importId);
    const fileOf = (first: number, last: number) => {
      const dir = join(paths.events, 'dt=2026-01-01', 'hour=00');
      mkdirSync(dir, { recursive: true });
      const f = join(dir, `import~${importId}~p0~o${first}-${last}.parquet`);
      writeFileSync(f, 'x');
      return f;
    };
    const chunks = [[1, 2000], [2001, 4000], [4001, 6000]].map(([first, last]) => ({ first: String(first), last: String(last), file: fileOf(first!, last!) }));
    for (const c of chunks) await markers.write({ topic: `import~${importId}`, partition: 0, first: c.first, last: c.last, files: [c.file] });

    const sink = new ImportLakeSink({ dataDir, importId, duckdb: { threads: 1, memoryLimit: '64MB' }, erasures: new ErasureList(dataDir, 5_000), eventType: new EventCodec(new MemoryRegistryClient(), 'events').type });
    await sink.open();
    try {
      // The checkpoint covers rows 1–4000: the second chunk was checkpointed, its marker not yet removed.
      expect(sink.recover(4000)).toEqual({ kept: 2, deleted: 1 });
      expect(chunks.map((c) => existsSync(c.file))).toEqual([true, true, false]);
      expect(markers.list(0)).toEqual([]);
    } finally {
      await sink.close();
    }
  });
});
