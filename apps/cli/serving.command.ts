/**
 * `twinlane serving ...`: start the API and dashboard, query a running API from the shell
 * (JSON, CSV or a table; `--source batch|speed` to compare the two stores), print the OpenAPI
 * document.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { loadSites } from '../../core/sites.ts';
import { GRAINS } from '../../core/views.ts';
import { openApiDocument } from '../../serving/index.ts';

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError('expected a port from 0 to 65535');
  return n;
}

/** `country=DE`, `country!=DE`, `page~/blog` (contains), `page!~/admin` (does not contain). */
const FILTER_OPS: Record<string, string> = { '=': 'is', '!=': 'is_not', '~': 'contains', '!~': 'contains_not' };

function filter(v: string, acc: string[][]): string[][] {
  const m = /^([a-z_:]+)(!=|!~|=|~)(.+)$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected dimension=value (or != is not, ~ contains, !~ does not contain), e.g. country=DE');
  return [...acc, [FILTER_OPS[m[2]!]!, m[1]!, m[3]!]];
}

interface QueryOpts {
  url?: string;
  key?: string;
  metrics: string;
  period: string;
  from?: string;
  to?: string;
  dimension?: string;
  grain?: string;
  limit?: string;
  source?: string;
  filter: string[][];
  compare?: boolean | string;
  segment?: string;
  goal?: string;
  format: 'json' | 'csv' | 'table';
}

async function runQuery(site: string, o: QueryOpts): Promise<void> {
  const config = loadConfig();
  const url = o.url ?? `http://127.0.0.1:${config.SERVING_PORT}`;
  // On the serving host the sites file has the key; elsewhere pass --key.
  const key = o.key ?? loadSites(config.SITES_FILE).get(site)?.readKey;
  if (!key) throw new UsageError('NO_KEY', `no read key for site "${site}" in SITES_FILE (absent, or stored only as a hash): pass --key`);
  if ((o.from === undefined) !== (o.to === undefined)) throw new UsageError('BAD_RANGE', 'give both --from and --to, or --period');
  const dimension = o.dimension ?? (o.grain ? `time:${o.grain}` : undefined);
  const filters = [...o.filter.map(([op, d, v]) => [op, d, [v]]), ...(o.goal ? [['is', 'event:goal', [o.goal]]] : [])];
  const body = {
    site_id: site,
    metrics: o.metrics.split(','),
    date_range: o.from && o.to ? [o.from, o.to] : o.period,
    // `country,device`: a breakdown by several dimensions.
    ...(dimension ? { dimensions: dimension.split(',') } : {}),
    ...(filters.length ? { filters } : {}),
    ...(o.segment ? { segment: o.segment } : {}),
    ...(o.limit ? { pagination: { limit: Number(o.limit) } } : {}),
    ...(o.compare ? { include: { comparisons: { mode: o.compare === true ? 'previous_period' : o.compare } } } : {}),
    ...(o.source ? { source: o.source } : {}),
  };
  const format = o.format === 'csv' ? 'csv' : 'json';
  let res: Response;
  try {
    res = await fetch(`${url}/api/v2/query?format=${format}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (err) {
    throw new UsageError('UNREACHABLE', `cannot reach the serving API at ${url} (${(err as Error).message}); start it with \`twinlane serving start\``);
  }
  const text = await res.text();
  if (!res.ok) throw new UsageError('QUERY_FAILED', `${res.status}: ${(JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text}`);
  if (o.format !== 'table') {
    process.stdout.write(format === 'json' ? JSON.stringify(JSON.parse(text), null, 2) + '\n' : text);
    return;
  }
  const r = JSON.parse(text) as { query: { metrics: string[]; dimensions: string[] }; results: { dimensions: string[]; metrics: (number | null)[]; source?: string; status?: string }[]; meta: Record<string, unknown> };
  console.table(r.results.map((row) => ({ ...Object.fromEntries(r.query.dimensions.map((d, i) => [d, row.dimensions[i]])), ...Object.fromEntries(r.query.metrics.map((m, i) => [m, row.metrics[i]])), ...(row.source !== undefined ? { source: row.source, status: row.status } : {}) })));
  console.log(`times in ${String((r.query as { timezone?: string }).timezone ?? 'UTC')} · W = ${String(r.meta.watermark)} · batch version ${String(r.meta.batch_version)} · ${r.meta.complete ? 'complete' : `${String(r.meta.missing_buckets)} missing`}`);
}

export function servingCommand(): Command {
  const cmd = new Command('serving').description('serving API and dashboard: buckets before W from batch, from W on from speed');
  cmd
    .command('start')
    .description('start the API and dashboard (SERVING_PORT) until SIGINT/SIGTERM')
    .option('-p, --port <port>', 'port (default SERVING_PORT)', port)
    .action(async (o: { port?: number }) => (await import('../serving.main.ts')).main(o.port));
  cmd
    .command('query')
    .description('query a running serving API and print the result')
    .argument('<site>', 'site id')
    .option('--url <url>', 'API base URL (default http://127.0.0.1:SERVING_PORT)')
    .option('--key <key>', 'read key (default: from SITES_FILE)')
    .option('-m, --metrics <list>', 'comma-separated metrics', 'pageviews,visitors')
    .option('--period <range>', "relative range in the site's time zone: 30m, 24h, 7d (the last 7 local days), today", '7d')
    .option('--from <date>', "start: a local date of the site (YYYY-MM-DD), a local date-time (2026-03-08T09:00) or an ISO date-time with zone")
    .option('--to <date>', 'end (an inclusive date, or an exclusive date-time)')
    .addOption(new Option('-g, --grain <grain>', "series at this grain; hours, days, ISO weeks and months are the site's local ones").choices([...GRAINS]))
    .option('-d, --dimension <dim>', 'breakdown dimension (page, referrer, country, device, browser, os, utm_source, utm_medium, utm_campaign, utm_term, utm_content, channel, event_name, currency, visit:entry_page, visit:exit_page, event:goal), or up to 3 comma-separated (country,device)')
    .option('--limit <n>', 'breakdown rows')
    .addOption(new Option('--source <source>', 'one store only, to compare them').choices(['merged', 'batch', 'speed']))
    .option('-f, --filter <dim=value>', 'filter, repeatable: country=DE, country!=DE, page~/blog (contains), page!~/admin', filter, [])
    .addOption(new Option('--compare [mode]', 'add a comparison: previous_period (without a mode) or year_over_year').choices(['previous_period', 'year_over_year']))
    .option('--segment <name>', "a saved segment of the site")
    .option('--goal <name>', 'a goal of the site: metrics conversions, conversion_rate')
    .addOption(new Option('--format <format>', 'output').choices(['json', 'csv', 'table']).default('table'))
    .action(runQuery);
  cmd
    .command('openapi')
    .description('print the OpenAPI document')
    .action(() => console.log(JSON.stringify(openApiDocument(), null, 2)));
  return cmd;
}
