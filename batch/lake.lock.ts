/** The lock every rewrite of existing lake files takes (compaction, erasure), so one never reads files the other replaces. */
import { join } from 'node:path';
import { acquireFileLock } from '../core/file-lock.ts';
import { TwinlaneError } from '../core/errors.ts';
import { lakePaths } from './lake.layout.ts';

export class LakeRewriteBusyError extends TwinlaneError {
  constructor(path: string) {
    super('LAKE_REWRITE_LOCKED', `another lake rewrite (compaction or erasure) holds ${path}; try again when it ends`, { retriable: true });
  }
}

/** One rewrite of lake files at a time (compaction, erasure). */
export function lockLakeRewrites(dataDir: string): () => void {
  const path = join(lakePaths(dataDir).root, '.rewrite.lock');
  return acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy: () => new LakeRewriteBusyError(path) });
}

