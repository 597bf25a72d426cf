/**
 * Compatibility by Avro's schema-resolution rules, as implemented by avsc:
 * `reader.createResolver(writer)` throws when the reader cannot read the writer's data.
 * BACKWARD: the new schema reads data written with the old; FORWARD: the old reads the new;
 * FULL: both. The plain modes check the latest live version, the TRANSITIVE ones every one.
 */
import avro from 'avsc';
import type { CompatibilityLevel } from './types.ts';

export interface ExistingVersion {
  version: number;
  type: avro.Type;
}

function cannotRead(reader: avro.Type, writer: avro.Type): string | undefined {
  try {
    reader.createResolver(writer);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Reasons `candidate` is not compatible with `existing` (oldest first) under `level`;
 * empty when it is compatible.
 */
export function compatibilityProblems(candidate: avro.Type, existing: readonly ExistingVersion[], level: CompatibilityLevel): string[] {
  if (level === 'NONE' || existing.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? existing : existing.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  for (const old of against) {
    if (backward) {
      const why = cannotRead(candidate, old.type);
      if (why) problems.push(`the new schema cannot read data written with version ${old.version} (${why})`);
    }
    if (forward) {
      const why = cannotRead(old.type, candidate);
      if (why) problems.push(`version ${old.version} cannot read data written with the new schema (${why})`);
    }
  }
  return problems;
}
