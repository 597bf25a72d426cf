/** `twinlane batch …`: run the batch job, roll back, show status, compact, run the archiver. */
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig } from '../../core/config.ts';
import { loadSites } from '../../core/sites.ts';
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { runBatch } from '../../batch/index.ts';
import { compactDay, compactHour } from '../../batch/index.ts';
import { formatDay, lakePaths, parseDay } from '../../batch/index.ts';
import { batchOptions } from '../../batch/index.ts';
import type { RunRecord } from '../../batch/index.ts';
import { ViewsStore } from '../../batch/index.ts';
import { guardDataFormats } from '../data-format.guard.ts';
import { publishBatch, publishFailed, publishLines } from '../batch-publish.ts';
import type { ConfigValues } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';

/**
 * A version made or chosen here goes where the scheduler's follow-up steps take it (batch-publish.ts):
 * into ClickHouse when serving reads the views there (BATCH_VIEWS_STORE=clickhouse), and into the
 * ClickHouse warehouse when it is on (WAREHOUSE_ENABLED).
 */
async function publish(config: ConfigValues, logger: Logger): Promise<void> {
  const outcome = await publishBatch(config, logger);
  for (const line of publishLines(outcome)) console.log(line);
  if (publishFailed(outcome)) process.exitCode = 1;
}

function iso(w: number | null): string {
  return w === null ? '(none)' : new Date(w).toISOString();
}

function printRecord(r: RunRecord): void {
  console.log(`run ${r.runId}: ${r.status} in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const d of r.days)
    console.log(`  ${d.day}: ${d.rowsRead} rows read, ${d.events} events after dedupe (${d.duplicates} duplicates, ${d.outsideDay} outside the day), ${d.rowsWritten} view rows written, ${(d.durationMs / 1000).toFixed(1)} s`);
  console.log(`  total: ${r.rowsRead} rows read, ${r.rowsWritten} rows written`);
  console.log(`  version ${r.version ?? '(none)'}, watermark W = ${iso(r.watermark)}`);
  for (const e of r.errors) console.log(`  error: ${e}`);
}

function runCommand(): Command {
  return new Command('run')
    .description('Recompute the exact views of some days and publish a new version')
    .option('--date <day...>', 'day(s) to compute, YYYY-MM-DD (UTC)')
    .option('--from <day>', 'first day of a range, YYYY-MM-DD')
    .option('--to <day>', 'last day of a range (included), YYYY-MM-DD')
    .option('--dirty', 'days whose lake files changed since their last run, and days never computed')
    .option('--json', 'print the run record as JSON')
    .action(async (o: { date?: string[]; from?: string; to?: string; dirty?: boolean; json?: boolean }) => {
      const config = loadConfig();
      const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'batch');
      // The batch job may migrate DATA_DIR (like `twinlane data migrate`); the services only refuse.
      await guardDataFormats(config, { role: 'twinlane batch run', stores: ['data-dir'], mode: 'migrate', logger });
      const bar = new cliProgress.SingleBar({ format: 'batch [{bar}] {value}/{total} days {day}', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
      let started = false;
      const record = await runBatch(
        {
          options: batchOptions(config),
          logger,
          // The sites' zones and currencies cut their month views (batch/month.views.ts).
          sites: loadSites(config.SITES_FILE),
          onProgress: (done, total, day) => {
            if (!started && total > 0) {
              bar.start(total, 0, { day: '' });
              started = true;
            }
            if (started) bar.update(done, { day: day ?? '' });
          },
        },
        { ...(o.date ? { dates: o.date } : {}), ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}), ...(o.dirty ? { dirty: true } : {}) },
      ).finally(() => started && bar.stop());
      if (o.json) console.log(JSON.stringify(record, null, 2));
      else if (record.status === 'noop') console.log('nothing to do: no dirty day');
      else printRecord(record);
      if (record.status === 'failed') process.exitCode = 1;
      else await publish(config, logger);
    });
}

function rollbackCommand(): Command {
  return new Command('rollback').description('Make the previous batch version current again (one atomic step)').action(async () => {
    const config = loadConfig();
    await guardDataFormats(config, { role: 'twinlane batch rollback', stores: ['data-dir'] });
    const store = new ViewsStore(config.DATA_DIR);
    const from = store.pointer()?.version;
    const p = store.rollback();
    console.log(`rolled back from ${from} to ${p.version}; watermark W = ${iso(p.watermark)}`);
    await publish(config, createLogger({ level: 'warn', pretty: config.LOG_PRETTY }, 'batch'));
  });
}

function statusCommand(): Command {
  return new Command('status')
    .description('Current version, watermark W and the versions kept')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) => {
      const config = loadConfig();
      const store = new ViewsStore(config.DATA_DIR);
      const pointer = store.pointer();
      const versions = store.versions().map((v) => {
        const m = store.manifest(v);
        return { version: v, createdAt: new Date(m.createdAt).toISOString(), watermark: m.watermark, days: Object.keys(m.days).length, current: v === pointer?.version };
      });
      if (o.json) {
        console.log(JSON.stringify({ pointer, versions }, null, 2));
        return;
      }
      if (!pointer) {
        console.log(`no batch version yet (views folder ${store.root})`);
        return;
      }
      console.log(`current version ${pointer.version} (${pointer.reason} at ${new Date(pointer.updatedAt).toISOString()}), watermark W = ${iso(pointer.watermark)}`);
      for (const v of versions) console.log(`${v.current ? '*' : ' '} ${v.version}  created ${v.createdAt}  W ${iso(v.watermark)}  ${v.days} days`);
    });
}

function compactCommand(): Command {
  return new Command('compact')
    .description('Merge the small lake files of closed hours into one file per hour')
    .requiredOption('--date <day>', 'day to compact, YYYY-MM-DD')
    .addOption(new Option('--hour <h>', 'only this hour (0-23)').argParser((v) => {
      if (!/^\d{1,2}$/.test(v)) throw new UsageError('BAD_HOUR', `--hour ${v} is not a whole number from 0 to 23`);
      return Number(v);
    }))
    .action(async (o: { date: string; hour?: number }) => {
      const config = loadConfig();
      parseDay(o.date);
      await guardDataFormats(config, { role: 'twinlane batch compact', stores: ['data-dir'] });
      const opts = { dataDir: config.DATA_DIR, duckdb: batchOptions(config).duckdb };
      const results = o.hour === undefined ? await compactDay(opts, o.date) : [await compactHour(opts, o.date, o.hour)];
      for (const r of results) if (r.filesBefore > 0) console.log(`${r.day} hour ${String(r.hour).padStart(2, '0')}: ${r.filesBefore} → ${r.filesAfter} files${r.rows ? `, ${r.rows} rows` : ''}`);
      if (results.every((r) => r.filesBefore === 0)) console.log(`no lake files for ${o.date} in ${lakePaths(config.DATA_DIR).events}`);
    });
}

function archiveCommand(): Command {
  return new Command('archive').description('Run the lake archiver (consumer group LAKE_GROUP) until SIGINT/SIGTERM').action(async () => {
    await import('../lake-archiver.main.ts');
  });
}

export function batchCommand(): Command {
  return new Command('batch')
    .description(`Parquet lake and exact batch views (today is ${formatDay(Date.now())} UTC)`)
    .addCommand(runCommand())
    .addCommand(rollbackCommand())
    .addCommand(statusCommand())
    .addCommand(compactCommand())
    .addCommand(archiveCommand());
}
