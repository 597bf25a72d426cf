import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { compatibilityProblems } from './compatibility.ts';
import type { CompatibilityLevel } from './types.ts';

const record = (fields: object[]) => avro.Type.forSchema({ type: 'record', name: 'R', fields } as avro.Schema);
const a = { name: 'a', type: 'string' };
const bNoDefault = { name: 'b', type: 'int' };
const bDefault = { name: 'b', type: 'int', default: 0 };

const v = (version: number, type: avro.Type) => ({ version, type });
const ok = (cand: avro.Type, existing: avro.Type[], level: CompatibilityLevel) =>
  compatibilityProblems(cand, existing.map((t, i) => v(i + 1, t)), level).length === 0;

describe('compatibility by Avro schema resolution', () => {
  const base = record([a]);
  it('BACKWARD: a new field needs a default; removing a field is fine', () => {
    expect(ok(record([a, bDefault]), [base], 'BACKWARD')).toBe(true);
    expect(ok(record([a, bNoDefault]), [base], 'BACKWARD')).toBe(false);
    expect(ok(base, [record([a, bNoDefault])], 'BACKWARD')).toBe(true);
  });

  it('FORWARD: old readers must read new data; removing a default-less field breaks them', () => {
    expect(ok(record([a, bNoDefault]), [base], 'FORWARD')).toBe(true);
    expect(ok(base, [record([a, bNoDefault])], 'FORWARD')).toBe(false);
    expect(ok(base, [record([a, bDefault])], 'FORWARD')).toBe(true);
  });

  it('FULL needs both directions', () => {
    expect(ok(record([a, bDefault]), [base], 'FULL')).toBe(true);
    expect(ok(record([a, bNoDefault]), [base], 'FULL')).toBe(false);
  });

  it('type changes follow promotion rules (int → long reads, long → int does not)', () => {
    const int = record([{ name: 'n', type: 'int' }]);
    const long = record([{ name: 'n', type: 'long' }]);
    expect(ok(long, [int], 'BACKWARD')).toBe(true);
    expect(ok(int, [long], 'BACKWARD')).toBe(false);
  });

  it('plain modes check only the latest version, TRANSITIVE ones every version', () => {
    const v1 = record([a]);
    const v2 = record([a, bNoDefault]); // registered under NONE, say
    const v3 = record([a, bNoDefault, { name: 'c', type: 'int', default: 1 }]);
    expect(ok(v3, [v1, v2], 'BACKWARD')).toBe(true);
    expect(ok(v3, [v1, v2], 'BACKWARD_TRANSITIVE')).toBe(false);
    const problems = compatibilityProblems(v3, [v(1, v1), v(2, v2)], 'BACKWARD_TRANSITIVE');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/version 1 .*default-less R\.b/);
  });

  it('NONE accepts anything, and a first version is always compatible', () => {
    expect(ok(record([{ name: 'x', type: 'bytes' }]), [base], 'NONE')).toBe(true);
    expect(ok(record([a, bNoDefault]), [], 'FULL_TRANSITIVE')).toBe(true);
  });
});
