/** `twinlane import umami|events|list`: history into the lake (apps/import.ts, transfer/). */
import { statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig, type ConfigValues } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { CsvSource, importsDir, listImports, NdjsonSource, ParquetSource, UmamiDumpSource, UmamiPostgresSource, type EventsFileFormat, type ImportProgress, type ImportSource } from '../../transfer/index.ts';
import { guardDataFormats } from '../data-format.guard.ts';
import { importHistory, type ImportOutcome } from '../import.ts';
import { publishFailed, publishLines } from '../batch-publish.ts';

interface CommonOptions {
  dryRun?: boolean;
  overlap?: boolean;
  thenBatch?: boolean;
  again?: boolean;
  json?: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

function print(o: ImportOutcome): void {
  const r = o.report;
  const c = r.counts;
  if (r.alreadyDone) {
    console.log(`import ${r.id} was complete already: ${c.imported} events imported, ${c.deadLettered} dead letters (use --again to run it again)`);
    return;
  }
  console.log(`${r.dryRun ? 'dry run: ' : ''}import ${r.id}${r.resumed ? ' (resumed)' : ''}: ${c.read} rows read in ${(r.durationMs / 1000).toFixed(1)} s`);
  console.log(`  ${r.dryRun ? 'would import' : 'imported'} ${c.imported} events${r.dryRun ? '' : ` into ${r.files} lake file(s) on ${r.days.length} day(s)`}`);
  console.log(`  dead letters: ${c.deadLettered}${r.dryRun ? ' (none written)' : ' (twinlane dlq list --site …; each names the import and its row)'}`);
  for (const b of r.badRows.slice(0, 10)) console.log(`    row ${b.row}: ${b.code} ${b.message}`);
  console.log(`  left out: ${c.erased} of erased visitors, ${c.afterCutoff} at or after the cutoff`);
  const live = Object.entries(r.cutoff.liveStarts);
  console.log(`  cutoff: the import's start ${iso(r.cutoff.importStart)}${r.cutoff.overlap ? ' (--overlap: live tracking ignored)' : live.length ? `; live tracking began ${live.map(([s, t]) => `${s} ${iso(t)}`).join(', ')}` : '; no live tracking in the lake yet'}`);
  if (!r.dryRun && r.days.length) console.log(`  days marked dirty: ${r.days[0]} … ${r.days[r.days.length - 1]}${o.batch ? '' : ' (twinlane batch run --dirty, or --then-batch)'}`);
  if (o.batch) console.log(`  batch: ${o.batch.status}, ${o.batch.days.length} day(s), version ${o.batch.version ?? '(none)'}${o.batch.errors.length ? `; ${o.batch.errors.join('; ')}` : ''}`);
  if (o.published) for (const line of publishLines(o.published)) console.log(`  ${line}`);
}

function progressBar(): { onProgress: (p: ImportProgress) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    { format: 'import [{bar}] {percentage}% | {rows} rows | {speed} rows/s | ETA {eta_formatted}', hideCursor: true, stream: process.stderr, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  let started = false;
  return {
    onProgress: (p) => {
      if (!process.stderr.isTTY) return;
      const speed = Math.round(p.rows / Math.max(0.001, (Date.now() - t0) / 1000)).toLocaleString('en-US');
      if (!started) {
        bar.start(Math.max(1, p.total), 0, { rows: 0, speed: 0 });
        started = true;
      }
      bar.update(Math.min(p.done, p.total), { rows: p.rows.toLocaleString('en-US'), speed });
    },
    stop: () => started && bar.stop(),
  };
}

async function run(sourceOf: (config: ConfigValues) => ImportSource, kind: 'umami' | 'events', site: string | undefined, o: CommonOptions): Promise<void> {
  const config = loadConfig();
  const source = sourceOf(config);
  const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'import');
  await guardDataFormats(config, { role: 'twinlane import', stores: ['data-dir'], logger });
  const bar = progressBar();
  const outcome = await importHistory(
    { config, logger, onProgress: bar.onProgress },
    { kind, source, ...(site !== undefined ? { site } : {}), overlap: o.overlap === true, dryRun: o.dryRun === true, again: o.again === true, thenBatch: o.thenBatch === true },
  ).finally(() => bar.stop());
  if (o.json) console.log(JSON.stringify(outcome, null, 2));
  else print(outcome);
  if (outcome.batch?.status === 'failed' || (outcome.published && publishFailed(outcome.published))) process.exitCode = 1;
}

function common(c: Command): Command {
  return c
    .option('--dry-run', 'read and check every row; report what would be imported and dead-lettered; write nothing')
    .option('--overlap', "also import events at or after the site's live-tracking start (they would be counted twice if both saw them)")
    .option('--then-batch', 'run the batch job for the days that received files (days that are over), then publish the version like the nightly batch (ClickHouse views, warehouse)')
    .option('--again', 'run an import that finished before again from its first row (replacing its files)')
    .option('--json', 'print the report as JSON');
}

const HELP_AFTER = `
Imported events keep their original times, go through the collector's validation, enrichment and
PII redaction, and land in the lake as files of their own, marking their days dirty. Bad rows go to
the dead-letter store naming the import and the row. Running the same command again resumes an
interrupted import from its last checkpoint (every event once). Erased visitors never come back.`;

function umamiCommand(): Command {
  return common(
    new Command('umami')
      .description("Import an Umami website's history from its PostgreSQL database or a plain-SQL pg_dump file")
      .requiredOption('--site <id>', 'the Twinlane site the website becomes')
      .requiredOption('--umami-website <uuid>', "Umami's website id")
      .option('--from <url>', 'PostgreSQL URL of the live Umami database (postgres://user:pass@host:5432/umami)')
      .option('--dump <file>', 'plain-SQL pg_dump file (pg_dump -Fp), read as a stream'),
  )
    .addHelpText('after', HELP_AFTER)
    .action(async (o: CommonOptions & { site: string; umamiWebsite: string; from?: string; dump?: string }) => {
      if ((o.from === undefined) === (o.dump === undefined)) throw new UsageError('BAD_IMPORT_SOURCE', 'give exactly one of --from <postgres url> or --dump <file>');
      if (o.dump !== undefined) readableFile(o.dump, '--dump');
      // A dump's sessions and event data wait on disk in DATA_DIR while its events stream (umami-dump.lookups.ts).
      const source = (c: ConfigValues) => (o.from !== undefined ? new UmamiPostgresSource(o.from, o.umamiWebsite, o.site) : new UmamiDumpSource(o.dump!, o.umamiWebsite, o.site, { workDir: join(importsDir(c.DATA_DIR), 'tmp') }));
      await run(source, 'umami', o.site, o);
    });
}

/** A file to read: a CLI error naming it when it is missing or not a file. */
function readableFile(file: string, what: string): string {
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch (err) {
    throw new UsageError('NO_SUCH_FILE', `${what} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!isFile) throw new UsageError('NO_SUCH_FILE', `${what} ${file}: not a file`);
  return file;
}

function formatOf(file: string, given?: string): EventsFileFormat {
  if (given) return given as EventsFileFormat;
  const ext = extname(file).toLowerCase();
  if (ext === '.ndjson' || ext === '.jsonl' || ext === '.json') return 'ndjson';
  if (ext === '.csv') return 'csv';
  if (ext === '.parquet') return 'parquet';
  throw new UsageError('BAD_IMPORT_FORMAT', `cannot tell the format of ${file} from its name: give --format ndjson|csv|parquet`);
}

function eventsCommand(): Command {
  return common(
    new Command('events')
      .description('Import a file of events in our own event shape (NDJSON, CSV or Parquet; transfer/README.md)')
      .argument('<file>', 'the events file')
      .addOption(new Option('--format <format>', 'file format (default: from the extension)').choices(['ndjson', 'csv', 'parquet']))
      .option('--site <id>', 'site of rows that name none'),
  )
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, o: CommonOptions & { format?: string; site?: string }) => {
      readableFile(file, 'the events file');
      const format = formatOf(file, o.format);
      const source = format === 'ndjson' ? new NdjsonSource(file) : format === 'csv' ? new CsvSource(file) : new ParquetSource(file);
      await run(() => source, 'events', o.site, o);
    });
}

function listCommand(): Command {
  return new Command('list')
    .description('Imports of this DATA_DIR: status, rows, checkpoint')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) => {
      const config = loadConfig();
      const all = listImports(config.DATA_DIR);
      if (o.json) return console.log(JSON.stringify(all, null, 2));
      if (all.length === 0) return console.log('no imports yet');
      for (const s of all) console.log(`${s.id}  ${s.status.padEnd(7)}  started ${iso(s.startedAt)}  read ${s.counts.read}  imported ${s.counts.imported}  dead letters ${s.counts.deadLettered}  next row ${s.next.rows}  ${s.source}`);
    });
}

export function importCommand(): Command {
  return new Command('import').description('Bring history in: from Umami (PostgreSQL or pg_dump) or from files of our own event shape').addCommand(umamiCommand()).addCommand(eventsCommand()).addCommand(listCommand());
}
