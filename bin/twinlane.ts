#!/usr/bin/env -S node --import=tsx
/**
 * The twinlane CLI: one program that gathers the commands of every part, each with its own --help.
 * Run it as `./bin/twinlane.ts` or `node --import tsx bin/twinlane.ts` from the repository root;
 * npx, npm link and global installs go through bin/twinlane.js, which finds tsx from anywhere.
 * (The shebang matters: without one, npx ran this file with /bin/sh, which executed a backquoted
 * command of this comment and started the CLI again and again. It says --import=tsx because tsx
 * 4.23 fails to parse a file whose first line holds "--import tsx" with a space.)
 * Every part exports a commander `Command` factory from its `cli.ts`; add it to COMMANDS.
 */
import { Command } from 'commander';
import { errorMessage, TwinlaneError } from '../core/errors.ts';

type CommandFactory = () => Command | Promise<Command>;

// name → lazy import, so `twinlane dlq --help` does not load DuckDB, Kafka and Redis clients of every part.
const COMMANDS: Record<string, { describe: string; load: () => Promise<CommandFactory> }> = {
  stack: { describe: 'local stack: Kafka, Redis, schema registry', load: async () => (await import('../apps/cli/stack.command.ts')).stackCommand },
  schemas: { describe: 'Avro schemas and the schema registry: serve, register, check, list, show', load: async () => (await import('../apps/cli/schemas.command.ts')).schemasCommand },
  speed: { describe: 'speed layer: consumer, rebuild, retire, query', load: async () => (await import('../apps/cli/speed.command.ts')).speedCommand },
  dlq: { describe: 'dead letters: list, show, stats, replay, prune, archiver', load: async () => (await import('../apps/cli/dlq.command.ts')).dlqCommand },
  batch: { describe: 'batch layer: run, rollback, status, compact, archive (lake archiver)', load: async () => (await import('../apps/cli/batch.command.ts')).batchCommand },
  ingest: { describe: 'collector (HTTP → Kafka) and load generator', load: async () => (await import('../apps/cli/ingest.command.ts')).ingestCommand },
  jobs: { describe: 'job ledger: list and show runs, run a job now', load: async () => (await import('../apps/cli/jobs.command.ts')).jobsCommand },
  scheduler: { describe: 'scheduler: nightly batch, hourly compaction, retention', load: async () => (await import('../apps/cli/jobs.command.ts')).schedulerCommand },
  pipeline: { describe: 'everything at once: services, traffic, first batch, dashboard (make pipeline)', load: async () => (await import('../apps/cli/jobs.command.ts')).pipelineCommand },
  serving: { describe: 'serving API and dashboard: start, query, openapi', load: async () => (await import('../apps/cli/serving.command.ts')).servingCommand },
  sql: { describe: 'one read-only SQL query against the ClickHouse warehouse (table, CSV or JSON)', load: async () => (await import('../apps/cli/sql.command.ts')).sqlCommand },
  sites: { describe: 'sites file: add, list, rotate-key, remove (keys stored hashed, shown once)', load: async () => (await import('../apps/cli/sites.command.ts')).sitesCommand },
  erase: { describe: 'right to erasure: remove a visitor (or a site) from every store and keep it erased', load: async () => (await import('../apps/cli/erase.command.ts')).eraseCommand },
  data: { describe: 'data-format versions of DATA_DIR and the speed store: status, migrate', load: async () => (await import('../apps/cli/data.command.ts')).dataCommand },
  import: { describe: 'history in: from Umami (PostgreSQL or pg_dump) or files of our event shape (NDJSON, CSV, Parquet)', load: async () => (await import('../apps/cli/import.command.ts')).importCommand },
  export: { describe: 'raw events of a site and range (Parquet, CSV, NDJSON) or its views as a zip of CSV files', load: async () => (await import('../apps/cli/export.command.ts')).exportCommand },
};

const program = new Command('twinlane').description('Twinlane event-analytics pipeline').showHelpAfterError();
for (const [name, { describe, load }] of Object.entries(COMMANDS)) {
  program.command(name, { hidden: false }).description(describe).allowUnknownOption().helpOption(false).argument('[args...]').action(async () => {
    const factory = await load();
    const sub = await factory();
    sub.name(name);
    const idx = process.argv.indexOf(name);
    await sub.parseAsync(process.argv.slice(idx + 1), { from: 'user' });
  });
}

program.parseAsync().catch((err: unknown) => {
  console.error(`twinlane: ${errorMessage(err)}`);
  process.exit(err instanceof TwinlaneError && !err.retriable ? 2 : 1);
});
