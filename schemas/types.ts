/** Types of the schema registry: stored versions, the commands in its log, their outcomes. */
import type { RegistryError } from './registry.errors.ts';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export function isCompatibilityLevel(v: unknown): v is CompatibilityLevel {
  return typeof v === 'string' && (COMPATIBILITY_LEVELS as readonly string[]).includes(v.toUpperCase());
}

/** Confluent's default when neither the subject nor the registry sets a level. */
export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD';

/** One version of one subject, as the REST API shows it. */
export interface SchemaVersion {
  subject: string;
  version: number;
  id: number;
  /** The schema as registered, minified JSON. */
  schema: string;
  deleted: boolean;
}

/**
 * A change to the registry. Commands are what the log stores; every instance applies them in
 * log order to the same pure state machine, so ids and versions are decided by log position.
 */
export type RegistryCommand =
  | { op: 'register'; subject: string; schema: string }
  | { op: 'delete-subject'; subject: string; permanent: boolean }
  | { op: 'delete-version'; subject: string; version: number; permanent: boolean }
  | { op: 'set-config'; subject: string | null; compatibility: CompatibilityLevel }
  | { op: 'delete-config'; subject: string };

export interface CommandResults {
  register: { id: number; version: number };
  'delete-subject': number[];
  'delete-version': number;
  'set-config': CompatibilityLevel;
  'delete-config': CompatibilityLevel;
}

export type CommandOutcome<T = unknown> = { ok: true; value: T } | { ok: false; error: RegistryError };

/** A version reference in a URL: a number, `latest` or -1. */
export type VersionRef = number | 'latest';
