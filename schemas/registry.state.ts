/**
 * The registry as a pure state machine over its command log. Every instance applies the same
 * commands in the same (log) order, so every instance hands out the same ids and versions:
 * the command that comes first in the log wins. Nothing here does I/O or reads the clock.
 */
import { parseSchema, type ParsedSchema } from './avro-schema.ts';
import { compatibilityProblems } from './compatibility.ts';
import { RegistryError, registryErrors } from './registry.errors.ts';
import {
  DEFAULT_COMPATIBILITY,
  isCompatibilityLevel,
  type CommandOutcome,
  type CommandResults,
  type CompatibilityLevel,
  type RegistryCommand,
  type SchemaVersion,
  type VersionRef,
} from './types.ts';

interface StoredSchema {
  id: number;
  parsed: ParsedSchema;
}

/** Commands come from a topic anyone could write to: check their shape before applying. */
function commandProblem(cmd: RegistryCommand): string | undefined {
  const c = cmd as Partial<Record<string, unknown>>;
  const isSubject = (v: unknown) => typeof v === 'string' && v.length > 0;
  switch (cmd.op) {
    case 'register':
      return isSubject(c.subject) && typeof c.schema === 'string' ? undefined : 'needs subject and schema strings';
    case 'delete-subject':
      return isSubject(c.subject) && typeof c.permanent === 'boolean' ? undefined : 'needs subject and permanent';
    case 'delete-version':
      return isSubject(c.subject) && Number.isInteger(c.version) && typeof c.permanent === 'boolean' ? undefined : 'needs subject, integer version and permanent';
    case 'set-config':
      return (c.subject === null || isSubject(c.subject)) && isCompatibilityLevel(c.compatibility) && c.compatibility === String(c.compatibility).toUpperCase()
        ? undefined
        : 'needs subject (or null) and an upper-case compatibility level';
    case 'delete-config':
      return isSubject(c.subject) ? undefined : 'needs subject';
    default:
      return undefined;
  }
}

const ok = <T>(value: T): CommandOutcome<T> => ({ ok: true, value });
const fail = (error: RegistryError): CommandOutcome<never> => ({ ok: false, error });

export class RegistryState {
  private maxId = 0;
  /** subject → version → entry; soft-deleted entries stay until a permanent delete. */
  private readonly subjects = new Map<string, Map<number, SchemaVersion>>();
  /** Schemas by id, for ids some live or soft-deleted version still uses. */
  private readonly byId = new Map<number, StoredSchema>();
  /** Canonical text → id, never forgotten, so a schema keeps its id even after a hard delete. */
  private readonly idByCanonical = new Map<string, number>();
  private globalLevel: CompatibilityLevel = DEFAULT_COMPATIBILITY;
  private readonly subjectLevels = new Map<string, CompatibilityLevel>();

  apply<C extends RegistryCommand>(cmd: C): CommandOutcome<CommandResults[C['op']]> {
    const malformed = commandProblem(cmd);
    if (malformed) return fail(registryErrors.badRequest(`malformed ${JSON.stringify(cmd.op)} command: ${malformed}`));
    switch (cmd.op) {
      case 'register':
        return this.register(cmd.subject, cmd.schema) as CommandOutcome<CommandResults[C['op']]>;
      case 'delete-subject':
        return this.deleteSubject(cmd.subject, cmd.permanent) as CommandOutcome<CommandResults[C['op']]>;
      case 'delete-version':
        return this.deleteVersion(cmd.subject, cmd.version, cmd.permanent) as CommandOutcome<CommandResults[C['op']]>;
      case 'set-config':
        if (cmd.subject === null) this.globalLevel = cmd.compatibility;
        else this.subjectLevels.set(cmd.subject, cmd.compatibility);
        return ok(cmd.compatibility) as CommandOutcome<CommandResults[C['op']]>;
      case 'delete-config': {
        const previous = this.subjectLevels.get(cmd.subject);
        if (!previous) return fail(registryErrors.subjectConfigNotFound(cmd.subject));
        this.subjectLevels.delete(cmd.subject);
        return ok(previous) as CommandOutcome<CommandResults[C['op']]>;
      }
      default:
        return fail(registryErrors.badRequest(`unknown command ${JSON.stringify((cmd as { op?: unknown }).op)}`));
    }
  }

  // ---- commands ----

  private register(subject: string, text: string): CommandOutcome<CommandResults['register']> {
    const parsed = parseSchema(text);
    if (parsed instanceof RegistryError) return fail(parsed);
    const existing = this.findInSubject(subject, parsed.canonical, false);
    if (existing) return ok({ id: existing.id, version: existing.version });
    const problems = this.problemsFor(subject, parsed);
    if (problems.length > 0) return fail(registryErrors.incompatible(subject, problems));
    let id = this.idByCanonical.get(parsed.canonical);
    if (id === undefined) {
      id = ++this.maxId;
      this.idByCanonical.set(parsed.canonical, id);
    }
    if (!this.byId.has(id)) this.byId.set(id, { id, parsed });
    const versions = this.subjects.get(subject) ?? new Map<number, SchemaVersion>();
    const version = Math.max(0, ...versions.keys()) + 1;
    versions.set(version, { subject, version, id, schema: this.byId.get(id)!.parsed.text, deleted: false });
    this.subjects.set(subject, versions);
    return ok({ id, version });
  }

  private deleteSubject(subject: string, permanent: boolean): CommandOutcome<number[]> {
    const versions = this.subjects.get(subject);
    if (!versions || versions.size === 0) return fail(registryErrors.subjectNotFound(subject));
    const all = [...versions.values()];
    const live = all.filter((v) => !v.deleted);
    if (!permanent) {
      if (live.length === 0) return fail(registryErrors.subjectSoftDeleted(subject));
      for (const v of live) v.deleted = true;
      return ok(live.map((v) => v.version));
    }
    if (live.length > 0) return fail(registryErrors.subjectNotSoftDeleted(subject));
    this.subjects.delete(subject);
    this.subjectLevels.delete(subject);
    this.forgetUnusedIds(all.map((v) => v.id));
    return ok(all.map((v) => v.version));
  }

  private deleteVersion(subject: string, version: number, permanent: boolean): CommandOutcome<number> {
    const versions = this.subjects.get(subject);
    if (!versions || versions.size === 0) return fail(registryErrors.subjectNotFound(subject));
    const entry = versions.get(version);
    if (!entry) return fail(registryErrors.versionNotFound(subject, version));
    if (!permanent) {
      if (entry.deleted) return fail(registryErrors.versionSoftDeleted(subject, version));
      entry.deleted = true;
      return ok(version);
    }
    if (!entry.deleted) return fail(registryErrors.versionNotSoftDeleted(subject, version));
    versions.delete(version);
    if (versions.size === 0) this.subjects.delete(subject);
    this.forgetUnusedIds([entry.id]);
    return ok(version);
  }

  private forgetUnusedIds(ids: number[]): void {
    const used = new Set<number>();
    for (const versions of this.subjects.values()) for (const v of versions.values()) used.add(v.id);
    for (const id of ids) if (!used.has(id)) this.byId.delete(id);
  }

  // ---- queries ----

  /** Compatibility problems of `parsed` against the subject's live versions under its level. */
  problemsFor(subject: string, parsed: ParsedSchema, onlyVersion?: number): string[] {
    const live = this.liveVersions(subject).filter((v) => onlyVersion === undefined || v.version === onlyVersion);
    const existing = live.map((v) => ({ version: v.version, type: this.byId.get(v.id)!.parsed.type }));
    const level = onlyVersion === undefined ? this.level(subject) : this.level(subject).replace('_TRANSITIVE', '');
    return compatibilityProblems(parsed.type, existing, level as CompatibilityLevel);
  }

  subjectNames(includeDeleted = false, prefix = ''): string[] {
    const out: string[] = [];
    for (const [name, versions] of this.subjects) {
      if (!name.startsWith(prefix)) continue;
      if (includeDeleted ? versions.size > 0 : [...versions.values()].some((v) => !v.deleted)) out.push(name);
    }
    return out.sort();
  }

  versionsOf(subject: string, includeDeleted = false): number[] | RegistryError {
    const versions = [...(this.subjects.get(subject)?.values() ?? [])].filter((v) => includeDeleted || !v.deleted);
    if (versions.length === 0) return registryErrors.subjectNotFound(subject);
    return versions.map((v) => v.version).sort((a, b) => a - b);
  }

  version(subject: string, ref: VersionRef, includeDeleted = false): SchemaVersion | RegistryError {
    const candidates = [...(this.subjects.get(subject)?.values() ?? [])].filter((v) => includeDeleted || !v.deleted);
    if (candidates.length === 0) return registryErrors.subjectNotFound(subject);
    const found = ref === 'latest' ? candidates.reduce((a, b) => (b.version > a.version ? b : a)) : candidates.find((v) => v.version === ref);
    return found ? { ...found } : registryErrors.versionNotFound(subject, ref);
  }

  /** `POST /subjects/{s}`: the version of the subject holding this schema. */
  lookup(subject: string, parsed: ParsedSchema, includeDeleted = false): SchemaVersion | RegistryError {
    if (!(this.subjects.get(subject)?.size ?? 0)) return registryErrors.subjectNotFound(subject);
    const found = this.findInSubject(subject, parsed.canonical, includeDeleted);
    return found ? { ...found } : registryErrors.schemaNotFound();
  }

  schemaById(id: number): string | RegistryError {
    return this.byId.get(id)?.parsed.text ?? registryErrors.schemaNotFound(`Schema ${id} not found`);
  }

  /** Subject/version pairs that use the schema id (live ones unless asked). */
  usesOf(id: number, includeDeleted = false): { subject: string; version: number }[] | RegistryError {
    if (!this.byId.has(id)) return registryErrors.schemaNotFound(`Schema ${id} not found`);
    const out: { subject: string; version: number }[] = [];
    for (const [subject, versions] of this.subjects) {
      for (const v of versions.values()) if (v.id === id && (includeDeleted || !v.deleted)) out.push({ subject, version: v.version });
    }
    return out.sort((a, b) => a.subject.localeCompare(b.subject) || a.version - b.version);
  }

  level(subject?: string | null): CompatibilityLevel {
    return (subject ? this.subjectLevels.get(subject) : undefined) ?? this.globalLevel;
  }

  subjectLevel(subject: string): CompatibilityLevel | undefined {
    return this.subjectLevels.get(subject);
  }

  get schemaCount(): number {
    return this.byId.size;
  }

  private liveVersions(subject: string): SchemaVersion[] {
    return [...(this.subjects.get(subject)?.values() ?? [])].filter((v) => !v.deleted).sort((a, b) => a.version - b.version);
  }

  private findInSubject(subject: string, canonical: string, includeDeleted: boolean): SchemaVersion | undefined {
    const id = this.idByCanonical.get(canonical);
    if (id === undefined) return undefined;
    const matches = [...(this.subjects.get(subject)?.values() ?? [])].filter((v) => v.id === id && (includeDeleted || !v.deleted));
    return matches.sort((a, b) => b.version - a.version)[0];
  }
}
