/** `twinlane export events|views`: raw events (Parquet, CSV, NDJSON) or the views as a zip of CSV files (transfer/). */
import { createWriteStream } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { ErasureList } from '../../core/erasure.list.ts';
import { UsageError } from '../../core/errors.ts';
import { loadSites } from '../../core/sites.ts';
import { BatchReader, parseDay } from '../../batch/index.ts';
import { exportEvents, exportViews, transferOptions, type ExportFormat } from '../../transfer/index.ts';

/** A day (YYYY-MM-DD, UTC midnight) or an ISO-8601 instant; `end` makes a day mean its end. */
function instant(text: string, end: boolean): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return parseDay(text) + (end ? 86_400_000 : 0);
  const t = Date.parse(text);
  if (Number.isNaN(t) || !/[zZ]|[+-]\d{2}:?\d{2}$/.test(text)) throw new UsageError('BAD_DATE', `"${text}" is neither a day (YYYY-MM-DD) nor an ISO-8601 time with a zone`);
  return t;
}

function range(o: { site: string; from: string; to: string }): { site: string; from: number; to: number } {
  if (!loadSites(loadConfig().SITES_FILE).get(o.site)) throw new UsageError('UNKNOWN_SITE', `--site ${o.site} is not in the sites file`);
  return { site: o.site, from: instant(o.from, false), to: instant(o.to, true) };
}

function eventsCommand(): Command {
  return new Command('events')
    .description('Raw events of a site and range, one per event id, erased visitors left out (importable again with `twinlane import events`)')
    .requiredOption('--site <id>', 'site id')
    .requiredOption('--from <day>', 'first day (YYYY-MM-DD, UTC) or an ISO-8601 time')
    .requiredOption('--to <day>', 'last day, included (or an ISO-8601 time, excluded)')
    .addOption(new Option('--format <format>', 'file format').choices(['parquet', 'csv', 'ndjson']).default('parquet'))
    .requiredOption('--out <file>', 'file to write')
    .action(async (o: { site: string; from: string; to: string; format: ExportFormat; out: string }) => {
      const config = loadConfig();
      const r = range(o);
      const t0 = Date.now();
      const done = await exportEvents({ dataDir: config.DATA_DIR, duckdb: transferOptions(config).exportDuckdb, erasures: new ErasureList(config.DATA_DIR, config.ERASURE_REFRESH) }, { ...r, format: o.format, out: o.out });
      console.error(`exported ${done.rows} events of ${o.site} to ${o.out} (${o.format}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
}

function viewsCommand(): Command {
  return new Command('views')
    .description("A site's batch views over a range as a zip of CSV files, one per breakdown")
    .requiredOption('--site <id>', 'site id')
    .requiredOption('--from <day>', 'first day (YYYY-MM-DD)')
    .requiredOption('--to <day>', 'last day, included')
    .requiredOption('--out <file.zip>', 'zip file to write')
    .action(async (o: { site: string; from: string; to: string; out: string }) => {
      const config = loadConfig();
      const r = range(o);
      const site = loadSites(config.SITES_FILE).get(o.site)!;
      const reader = new BatchReader({ dataDir: config.DATA_DIR, duckdb: { memoryLimit: '512MB', threads: 2 } });
      const done = await exportViews(reader, { ...r, ...(site.timezone ? { zone: site.timezone } : {}) }, createWriteStream(o.out));
      console.error(`exported ${done.files.length} CSV files of ${o.site} to ${o.out}`);
    });
}

export function exportCommand(): Command {
  return new Command('export').description('Take your data with you: raw events or the views of a site').addCommand(eventsCommand()).addCommand(viewsCommand());
}
