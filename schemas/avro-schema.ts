/**
 * Parsing of schema text sent to the registry: valid Avro or a 422, plus the canonical form
 * used to tell whether two registrations are the same schema.
 */
import avro from 'avsc';
import { registryErrors, RegistryError } from './registry.errors.ts';

export interface ParsedSchema {
  /** Minified JSON, the form stored and returned. */
  text: string;
  /** Keys sorted, `{"type":"x"}` folded to `"x"`: equal for schemas that differ only in layout. */
  canonical: string;
  type: avro.Type;
}

function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  if (keys.length === 1 && keys[0] === 'type' && typeof obj.type === 'string') return obj.type;
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = k === 'default' ? obj[k] : canonicalize(obj[k]);
  return out;
}

/** Parses schema text; returns a RegistryError (42201) instead of throwing. */
export function parseSchema(text: unknown): ParsedSchema | RegistryError {
  if (typeof text !== 'string' || text.trim() === '') return registryErrors.invalidSchema('the schema is empty or not a string');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return registryErrors.invalidSchema(`not JSON: ${(err as Error).message}`);
  }
  try {
    // Logical types stay annotations: the registry never decodes data.
    const type = avro.Type.forSchema(json as avro.Schema);
    return { text: JSON.stringify(json), canonical: JSON.stringify(canonicalize(json)), type };
  } catch (err) {
    return registryErrors.invalidSchema((err as Error).message);
  }
}
