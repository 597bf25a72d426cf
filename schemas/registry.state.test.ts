import { describe, expect, it } from 'vitest';
import { RegistryError } from './registry.errors.ts';
import { RegistryState } from './registry.state.ts';
import type { CommandResults, RegistryCommand } from './types.ts';

const schema = (fields: object[], name = 'R') => JSON.stringify({ type: 'record', name, fields });
const S1 = schema([{ name: 'a', type: 'string' }]);
const S2 = schema([{ name: 'a', type: 'string' }, { name: 'b', type: 'int', default: 0 }]);
const BAD = schema([{ name: 'a', type: 'string' }, { name: 'c', type: 'int' }]);

function applied<C extends RegistryCommand>(state: RegistryState, cmd: C): CommandResults[C['op']] {
  const out = state.apply(cmd);
  if (!out.ok) throw out.error;
  return out.value;
}
const errorOf = (state: RegistryState, cmd: RegistryCommand) => {
  const out = state.apply(cmd);
  return out.ok ? undefined : out.error.errorCode;
};

describe('RegistryState', () => {
  it('hands out ids by first registration and reuses them across subjects', () => {
    const s = new RegistryState();
    expect(applied(s, { op: 'register', subject: 'a', schema: S1 })).toEqual({ id: 1, version: 1 });
    expect(applied(s, { op: 'register', subject: 'a', schema: S1 })).toEqual({ id: 1, version: 1 });
    expect(applied(s, { op: 'register', subject: 'b', schema: S1 })).toEqual({ id: 1, version: 1 });
    expect(applied(s, { op: 'register', subject: 'a', schema: S2 })).toEqual({ id: 2, version: 2 });
  });

  it('treats layout differences as the same schema', () => {
    const s = new RegistryState();
    applied(s, { op: 'register', subject: 'a', schema: S1 });
    const relaid = `{ "fields": [ {"type": {"type": "string"}, "name": "a"} ], "name": "R", "type": "record" }`;
    expect(applied(s, { op: 'register', subject: 'a', schema: relaid })).toEqual({ id: 1, version: 1 });
  });

  it('refuses incompatible schemas with 409 and invalid ones with 42201', () => {
    const s = new RegistryState();
    applied(s, { op: 'register', subject: 'a', schema: S1 });
    expect(errorOf(s, { op: 'register', subject: 'a', schema: BAD })).toBe(409);
    expect(errorOf(s, { op: 'register', subject: 'a', schema: '{"type":"record"}' })).toBe(42201);
    applied(s, { op: 'set-config', subject: 'a', compatibility: 'NONE' });
    expect(applied(s, { op: 'register', subject: 'a', schema: BAD })).toEqual({ id: 2, version: 2 });
  });

  it('soft deletes hide versions; permanent delete needs a soft delete first', () => {
    const s = new RegistryState();
    applied(s, { op: 'register', subject: 'a', schema: S1 });
    applied(s, { op: 'register', subject: 'a', schema: S2 });
    expect(errorOf(s, { op: 'delete-version', subject: 'a', version: 2, permanent: true })).toBe(40407);
    expect(applied(s, { op: 'delete-version', subject: 'a', version: 2, permanent: false })).toBe(2);
    expect(errorOf(s, { op: 'delete-version', subject: 'a', version: 2, permanent: false })).toBe(40406);
    expect(s.versionsOf('a')).toEqual([1]);
    expect(s.versionsOf('a', true)).toEqual([1, 2]);
    expect((s.version('a', 'latest') as { version: number }).version).toBe(1);
    expect(s.schemaById(2)).toBe(S2); // ids stay readable after a soft delete
    // Registering the soft-deleted schema again: a new version, the same id.
    expect(applied(s, { op: 'register', subject: 'a', schema: S2 })).toEqual({ id: 2, version: 3 });

    expect(errorOf(s, { op: 'delete-subject', subject: 'a', permanent: true })).toBe(40405);
    expect(applied(s, { op: 'delete-subject', subject: 'a', permanent: false })).toEqual([1, 3]);
    expect(errorOf(s, { op: 'delete-subject', subject: 'a', permanent: false })).toBe(40404);
    expect(s.subjectNames()).toEqual([]);
    expect(s.subjectNames(true)).toEqual(['a']);
    expect(applied(s, { op: 'delete-subject', subject: 'a', permanent: true })).toEqual([1, 2, 3]);
    expect((s.schemaById(1) as RegistryError).errorCode).toBe(40403);
    expect(errorOf(s, { op: 'delete-subject', subject: 'a', permanent: false })).toBe(40401);
    // A hard-deleted schema registered again keeps its id; ids are never reused for others.
    expect(applied(s, { op: 'register', subject: 'z', schema: S1 })).toEqual({ id: 1, version: 1 });
    expect(applied(s, { op: 'register', subject: 'y', schema: schema([{ name: 'q', type: 'int' }], 'Q') }).id).toBe(3);
  });

  it('subject config overrides the global one and can be deleted', () => {
    const s = new RegistryState();
    expect(s.level('x')).toBe('BACKWARD');
    applied(s, { op: 'set-config', subject: null, compatibility: 'FULL' });
    expect(s.level('x')).toBe('FULL');
    applied(s, { op: 'set-config', subject: 'x', compatibility: 'NONE' });
    expect(s.level('x')).toBe('NONE');
    expect(applied(s, { op: 'delete-config', subject: 'x' })).toBe('NONE');
    expect(errorOf(s, { op: 'delete-config', subject: 'x' })).toBe(40408);
  });

  it('two states fed the same log agree, whatever each writer assumed', () => {
    // Two instances each thought they were registering "the next" schema: the log decides.
    const log: RegistryCommand[] = [
      { op: 'register', subject: 'a', schema: S1 },
      { op: 'register', subject: 'b', schema: schema([{ name: 'x', type: 'int' }], 'X') },
      { op: 'register', subject: 'a', schema: BAD }, // loses: incompatible when its turn comes
      { op: 'register', subject: 'a', schema: S2 },
    ];
    const [one, two] = [new RegistryState(), new RegistryState()];
    const outcomes = [one, two].map((s) => log.map((c) => { const o = s.apply(c); return o.ok ? o.value : o.error.errorCode; }));
    expect(outcomes[0]).toEqual(outcomes[1]);
    expect(outcomes[0]).toEqual([{ id: 1, version: 1 }, { id: 2, version: 1 }, 409, { id: 3, version: 2 }]);
  });
});

describe('RegistryState with foreign records', () => {
  it('refuses malformed commands without changing anything', () => {
    const s = new RegistryState();
    const bad = [
      { op: 'register', subject: 'a' },
      { op: 'set-config', subject: null, compatibility: 'SIDEWAYS' },
      { op: 'delete-version', subject: 'a', version: '1', permanent: false },
      { op: 'explode' },
    ] as unknown as RegistryCommand[];
    for (const cmd of bad) expect(errorOf(s, cmd)).toBe(400);
    expect(s.level(null)).toBe('BACKWARD');
    expect(s.subjectNames(true)).toEqual([]);
  });
});
