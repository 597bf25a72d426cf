import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA, EVENT_SCHEMA_V1, type AvroSchemaJson } from './event.ts';
import { driftError, schemaDriftPaths } from './schema-drift.ts';

function drifted(changes: Record<string, unknown>, drop: string[] = []): AvroSchemaJson {
  const s = structuredClone(EVENT_SCHEMA);
  s.fields = s.fields.filter((f) => !drop.includes(f.name)).map((f) => (f.name in changes ? { ...f, type: changes[f.name] } : f));
  return s;
}

describe('schema drift', () => {
  it('names each field whose type changed incompatibly', () => {
    expect(schemaDriftPaths(EVENT_SCHEMA, drifted({ revenue_micros: ['null', 'string'], screen_width: ['null', 'string'] }))).toEqual(['revenue_micros', 'screen_width']);
    const err = driftError(EVENT_SCHEMA, drifted({ revenue_micros: ['null', 'string'] }), 42)!;
    expect(err.code).toBe('SCHEMA_VIOLATION');
    expect(err.paths).toEqual(['revenue_micros']);
    expect(err.message).toContain('schema id 42');
  });

  it('names a required field the writer dropped', () => {
    expect(schemaDriftPaths(EVENT_SCHEMA, drifted({}, ['visitor_id']))).toEqual(['visitor_id']);
  });

  it('finds nothing for compatible writers (same schema, older version, promotable type)', () => {
    expect(driftError(EVENT_SCHEMA, EVENT_SCHEMA, 1)).toBeUndefined();
    expect(driftError(EVENT_SCHEMA, EVENT_SCHEMA_V1, 1)).toBeUndefined();
    expect(schemaDriftPaths(EVENT_SCHEMA, drifted({ screen_width: ['null', 'int'] }))).toEqual([]);
  });
});
