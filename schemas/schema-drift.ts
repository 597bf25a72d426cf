/**
 * Schema drift: a producer registered a schema whose field types the reader cannot resolve
 * (e.g. `revenue_micros` turned into a string). avsc's resolver only says "cannot read X as
 * Y"; this names the fields, so the dead letter says SCHEMA_VIOLATION at `revenue_micros`
 * instead of a bare decode error.
 */
import avro from 'avsc';
import type { AvroSchemaJson } from './event.ts';
import { SchemaViolationError } from './codec.errors.ts';

type Field = { name: string; type: unknown; default?: unknown };

function typeOf(schema: unknown, namespace: string | undefined, registry: Record<string, avro.Type>): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry, ...(namespace ? { namespace } : {}) });
}

/**
 * Paths of the reader's fields that cannot be read from the writer's data: a type the
 * resolver rejects, or a field the writer lacks and the reader has no default for.
 * Recurses into nested records. Empty when the writer schema resolves.
 */
export function schemaDriftPaths(reader: AvroSchemaJson, writer: AvroSchemaJson, prefix = ''): string[] {
  const paths: string[] = [];
  const rRegistry: Record<string, avro.Type> = {};
  const wRegistry: Record<string, avro.Type> = {};
  const writerFields = new Map((writer.fields as Field[]).map((f) => [f.name, f]));
  for (const rf of reader.fields as Field[]) {
    const path = prefix ? `${prefix}.${rf.name}` : rf.name;
    const wf = writerFields.get(rf.name);
    if (!wf) {
      if (!('default' in rf)) paths.push(path);
      continue;
    }
    const rType = rf.type as { type?: string; fields?: unknown };
    const wType = wf.type as { type?: string; fields?: unknown };
    if (rType?.type === 'record' && wType?.type === 'record') {
      paths.push(...schemaDriftPaths(rType as AvroSchemaJson, wType as AvroSchemaJson, path));
      continue;
    }
    try {
      typeOf(rf.type, reader.namespace, rRegistry).createResolver(typeOf(wf.type, writer.namespace, wRegistry));
    } catch {
      paths.push(path);
    }
  }
  return paths;
}

/** The typed error for a writer schema that does not resolve; undefined when it does. */
export function driftError(reader: AvroSchemaJson, writer: AvroSchemaJson, schemaId: number): SchemaViolationError | undefined {
  try {
    avro.Type.forSchema(reader as avro.Schema).createResolver(avro.Type.forSchema(writer as avro.Schema));
    return undefined;
  } catch {
    const paths = schemaDriftPaths(reader, writer);
    return new SchemaViolationError(paths, `schema drift: writer schema id ${schemaId} changed the type of ${paths.join(', ') || 'a field'} incompatibly`);
  }
}
