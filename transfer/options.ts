/** Options of the transfer part, built by entry points from core/config.ts values. */
import type { ConfigValues } from '../core/config.ts';
import type { DuckDBOptions } from '../core/duckdb.ts';

export interface TransferOptions {
  dataDir: string;
  /** Rows per lake chunk of an import (IMPORT_CHUNK_ROWS). */
  chunkRows: number;
  /**
   * DuckDB of an import: the live-start scan of the lake (2 threads), and the lake sink's hour
   * conversions while rows are read (on one thread: import.lake.sink.ts). The cap keeps the whole
   * process within about 300 MB (the bench's `import_peak_rss_mb`).
   */
  importDuckdb: Omit<DuckDBOptions, 'tempDir'>;
  /** DuckDB of an export: scans the lake or views and streams out. */
  exportDuckdb: Omit<DuckDBOptions, 'tempDir'>;
}

export function transferOptions(c: ConfigValues): TransferOptions {
  return {
    dataDir: c.DATA_DIR,
    chunkRows: c.IMPORT_CHUNK_ROWS,
    importDuckdb: { memoryLimit: '160MB', threads: 2 },
    exportDuckdb: { memoryLimit: '256MB', threads: 2 },
  };
}
