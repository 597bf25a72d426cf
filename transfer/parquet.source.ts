/**
 * A Parquet file of events in our importable shape (a raw export of `twinlane export`, or another
 * writer's with the same column names). DuckDB streams it in file order (one thread keeps the
 * order) as one JSON object per row: times as epoch ms, the properties map as an object. A row's
 * number is its 1-based position in the file; a resume starts at it (`file_row_number`).
 */
import { resolve } from 'node:path';
import { statSync } from 'node:fs';
import { openSmallDuckDB, num, type DuckDB } from '../core/duckdb.ts';
import { UsageError } from '../core/errors.ts';
import { IMPORT_FIELDS } from './event-record.mapper.ts';
import { ImportSourceError } from './import.errors.ts';
import type { ImportSource, ResumePoint, SourceRow } from './types.ts';

const KNOWN = new Set<string>(IMPORT_FIELDS);

export class ParquetSource implements ImportSource {
  readonly identity: string;
  private db: DuckDB | undefined;
  private at = 0;

  constructor(private readonly path: string) {
    const st = statSync(path);
    this.identity = `parquet:${resolve(path)}:${st.size}:${Math.trunc(st.mtimeMs)}`;
  }

  private async open(): Promise<DuckDB> {
    this.db ??= await openSmallDuckDB(1, { code: 'IMPORT_DUCKDB_OPEN_FAILED', purpose: 'reading a Parquet import' });
    return this.db;
  }

  async size(): Promise<{ unit: 'rows'; total: number }> {
    const db = await this.open();
    try {
      const r = await db.conn.runAndReadAll('SELECT sum(num_rows) AS n FROM parquet_file_metadata($file)', { file: this.path });
      return { unit: 'rows', total: num(r.getRowObjectsJS()[0]?.n) };
    } catch (err) {
      throw new ImportSourceError(`${this.path} is not a readable Parquet file: ${(err as Error).message}`, false, err);
    }
  }

  progress(): number {
    return this.at;
  }

  /** The SELECT of one JSON text per row: timestamps as epoch ms, everything else as DuckDB renders it in JSON. */
  private async selectList(db: DuckDB): Promise<string> {
    const r = await db.conn.runAndReadAll('DESCRIBE SELECT * FROM read_parquet($file)', { file: this.path });
    const cols = r.getRowObjectsJS().map((x) => ({ name: String(x.column_name), type: String(x.column_type) }));
    const unknown = cols.filter((c) => !KNOWN.has(c.name)).map((c) => c.name);
    if (unknown.length) throw new UsageError('BAD_PARQUET_COLUMNS', `${this.path}: unknown column(s) ${unknown.join(', ')}; the columns are those of transfer/README.md`);
    // Names are known field names (checked just above), so they are safe to write into the SQL.
    const parts = cols.map((c) => `${c.name} := ${c.type.startsWith('TIMESTAMP') ? `epoch_ms(CAST(${c.name} AS TIMESTAMP))` : c.name}`);
    return `CAST(to_json(struct_pack(${parts.join(', ')})) AS VARCHAR)`;
  }

  async *rows(from: ResumePoint): AsyncIterable<SourceRow> {
    const db = await this.open();
    const select = await this.selectList(db);
    const result = await db.conn.stream(`SELECT file_row_number AS n, ${select} AS j FROM read_parquet($file, file_row_number = true) WHERE file_row_number >= $from`, { file: this.path, from: BigInt(from.rows) });
    let rows = from.rows;
    for await (const batch of result.yieldRowsJs()) {
      for (const [n, j] of batch) {
        rows = Number(n) + 1;
        this.at = rows;
        const text = String(j);
        let record: SourceRow['record'];
        try {
          record = JSON.parse(text) as Record<string, unknown>;
          for (const k of Object.keys(record)) if (record[k] === null) delete record[k];
        } catch (err) {
          record = { unreadable: `row ${rows} did not convert to JSON: ${(err as Error).message}` };
        }
        yield { row: rows, record, raw: () => Buffer.from(text, 'utf8'), resume: { rows } };
      }
    }
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }
}
