/**
 * An import's checkpoint, `DATA_DIR/imports/<id>.json`, written atomically after each chunk whose
 * files are in the lake: the next row to read, the fixed cutoff, the counts so far. A run of the
 * same import (same source, site and options, so the same id) starts from it; the chunk after
 * the checkpoint is read again with the same row numbers, so it lands under the same file names,
 * and the in-flight markers of lake.writer.ts let the resume delete the files of a chunk that was
 * placed but not checkpointed (import.lake.sink.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import type { ImportCounts, ImportCutoff, ImportKind, ResumePoint } from './types.ts';

export interface ImportState {
  v: 1;
  id: string;
  kind: ImportKind;
  site: string | null;
  source: string;
  startedAt: number;
  /** Where the import stops, the same on every resume. */
  cutoff: ImportCutoff;
  status: 'running' | 'done';
  /** Where the next chunk starts. */
  next: ResumePoint;
  counts: ImportCounts;
  days: string[];
  files: number;
  badRows: { row: number; code: string; message: string }[];
  doneAt?: number;
}

export function importsDir(dataDir: string): string {
  return join(dataDir, 'imports');
}

function statePath(dataDir: string, id: string): string {
  return join(importsDir(dataDir), `${id}.json`);
}

export function readImportState(dataDir: string, id: string): ImportState | undefined {
  const path = statePath(dataDir, id);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as ImportState;
}

export function writeImportState(dataDir: string, state: ImportState): void {
  writeFileAtomic(statePath(dataDir, state.id), JSON.stringify(state, null, 1));
}

export function emptyCounts(): ImportCounts {
  return { read: 0, imported: 0, deadLettered: 0, erased: 0, afterCutoff: 0 };
}
