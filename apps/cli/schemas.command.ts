/**
 * `twinlane schemas …`: run the bundled registry, and talk to any Confluent-compatible
 * registry at SCHEMA_REGISTRY_URL (register, check, list, show).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { DependencyError, UsageError } from '../../core/errors.ts';
import { EVENT_SCHEMA, eventSubject } from '../../schemas/index.ts';
import { REGISTRY_CONTENT_TYPE } from '../../schemas/index.ts';

/** A registry answer that is not 2xx, with Confluent's error code when it sent one. */
async function call(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: body === undefined ? {} : { 'content-type': REGISTRY_CONTENT_TYPE },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new DependencyError('REGISTRY_UNREACHABLE', `schema registry at ${base} unreachable: ${(err as Error).message}`, err);
  }
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const e = parsed as { error_code?: number; message?: string } | undefined;
    throw new UsageError('REGISTRY_REFUSED', `${method} ${path}: ${res.status}${e?.error_code ? ` (error ${e.error_code})` : ''} ${e?.message ?? text}`);
  }
  return parsed;
}

function readSchemaFile(file: string | undefined): string {
  if (!file) return JSON.stringify(EVENT_SCHEMA);
  if (!existsSync(file)) throw new UsageError('FILE_NOT_FOUND', `schema file ${file} does not exist`);
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.stringify(JSON.parse(text));
  } catch (err) {
    throw new UsageError('SCHEMA_NOT_JSON', `${file} is not JSON: ${(err as Error).message}`);
  }
}

export function schemasCommand(): Command {
  const config = loadConfig();
  const defaultSubject = eventSubject(config.EVENTS_TOPIC);
  const program = new Command('schemas').description('Avro schemas and the Confluent-compatible schema registry');
  const url = () => program.opts<{ url: string }>().url;
  program.option('--url <url>', 'registry to talk to', config.SCHEMA_REGISTRY_URL);

  program
    .command('serve')
    .description('run the bundled registry (stores schemas in REGISTRY_TOPIC; `make stack-up` starts it too)')
    .option('--port <port>', 'port to listen on', String(config.REGISTRY_PORT))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (opts: { port: string; host: string }) => {
      if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) throw new UsageError('BAD_PORT', `--port ${opts.port}: expected a port number`);
      const { runRegistry } = await import('../registry.runtime.ts');
      await runRegistry(config, { port: Number(opts.port), host: opts.host });
    });

  program
    .command('register')
    .description('register an .avsc file (default: the current event schema) under a subject; prints its id')
    .argument('[file]', 'Avro schema file')
    .option('-s, --subject <subject>', 'subject', defaultSubject)
    .action(async (file: string | undefined, opts: { subject: string }) => {
      const body = (await call(url(), 'POST', `/subjects/${encodeURIComponent(opts.subject)}/versions`, { schema: readSchemaFile(file) })) as { id: number };
      console.log(`${opts.subject}: schema id ${body.id}`);
    });

  program
    .command('check')
    .description("check an .avsc file against a subject's versions under its compatibility level")
    .argument('[file]', 'Avro schema file')
    .option('-s, --subject <subject>', 'subject', defaultSubject)
    .option('--version <version>', 'only against this version (number or latest)')
    .action(async (file: string | undefined, opts: { subject: string; version?: string }) => {
      const path = `/compatibility/subjects/${encodeURIComponent(opts.subject)}/versions${opts.version ? `/${opts.version}` : ''}?verbose=true`;
      const body = (await call(url(), 'POST', path, { schema: readSchemaFile(file) })) as { is_compatible: boolean; messages?: string[] };
      console.log(body.is_compatible ? 'compatible' : `NOT compatible:\n  - ${(body.messages ?? []).join('\n  - ')}`);
      if (!body.is_compatible) process.exitCode = 3;
    });

  program
    .command('list')
    .description('subjects with their versions, schema ids and compatibility levels')
    .option('--deleted', 'include soft-deleted subjects and versions')
    .action(async (opts: { deleted?: boolean }) => {
      const q = opts.deleted ? '?deleted=true' : '';
      const subjects = (await call(url(), 'GET', `/subjects${q}`)) as string[];
      const global = (await call(url(), 'GET', '/config')) as { compatibilityLevel: string };
      console.log(`global compatibility: ${global.compatibilityLevel}`);
      for (const s of subjects) {
        const enc = encodeURIComponent(s);
        const versions = (await call(url(), 'GET', `/subjects/${enc}/versions${q}`)) as number[];
        const ids = await Promise.all(versions.map(async (v) => ((await call(url(), 'GET', `/subjects/${enc}/versions/${v}${q}`)) as { id: number }).id));
        const level = ((await call(url(), 'GET', `/config/${enc}?defaultToGlobal=true`)) as { compatibilityLevel: string }).compatibilityLevel;
        console.log(`${s}  [${level}]  ${versions.map((v, i) => `v${v}=id ${ids[i]}`).join('  ')}`);
      }
    });

  program
    .command('show')
    .description('print the schema of a subject version (default: latest)')
    .argument('<subject>', 'subject')
    .argument('[version]', 'version number or latest', 'latest')
    .action(async (subject: string, version: string) => {
      const body = (await call(url(), 'GET', `/subjects/${encodeURIComponent(subject)}/versions/${version}`)) as { id: number; version: number; schema: string };
      console.log(`# ${subject} version ${body.version}, id ${body.id}`);
      console.log(JSON.stringify(JSON.parse(body.schema), null, 2));
    });
  return program;
}
