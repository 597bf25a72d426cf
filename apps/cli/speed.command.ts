/**
 * `twinlane speed …`: run the consumer, rebuild from Kafka, retire old buckets, and query the
 * speed store by hand.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { isTimeZone } from '../../core/calendar.ts';
import { loadConfig } from '../../core/config.ts';
import { redisClientOf } from '../../core/clients.ts';
import type { RedisClient } from '../../core/redis-client.ts';
import { parseDuration } from '../../core/durations.ts';
import { createLogger } from '../../core/logger.ts';
import { DIMENSIONS, GRAINS, METRICS, type Dimension, type Filters, type Grain, type Metric } from '../../core/views.ts';
import { SpeedMaintenance } from '../../speed/index.ts';
import { SpeedKeys } from '../../speed/index.ts';
import { SpeedReader } from '../../speed/index.ts';
import { guardDataFormats } from '../data-format.guard.ts';
import { rebuildSpeedStore } from '../speed.rebuild.ts';
import { createSpeedRuntime } from '../speed.runtime.ts';
import { main } from '../speed.main.ts';

/** ISO-8601 time, a date (UTC), `now`, or a duration ago such as 90m or 2d. */
export function parseTime(value: string, now = Date.now()): number {
  if (value === 'now') return now;
  const ago = parseDuration(value);
  if (ago !== undefined && !/^\d{4}/.test(value)) return now - ago;
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`"${value}" is not a time: use ISO-8601 (2025-01-31T12:00:00Z), a date (UTC), now, or a duration ago (90m, 2d)`);
  return t;
}

function parseFilter(value: string, previous: Filters = {}): Filters {
  const m = /^([a-z_]+)=(.*)$/.exec(value);
  if (!m || !(DIMENSIONS as readonly string[]).includes(m[1]!)) throw new InvalidArgumentError(`"${value}" is not a filter: use dimension=value with a dimension of ${DIMENSIONS.join(', ')}`);
  return { ...previous, [m[1] as Dimension]: m[2] };
}

function parseMetrics(value: string): Metric[] {
  const list = value.split(',').map((s) => s.trim());
  for (const m of list) if (!(METRICS as readonly string[]).includes(m)) throw new InvalidArgumentError(`unknown metric "${m}"; expected ${METRICS.join(', ')}`);
  return list as Metric[];
}

function readerFromConfig(): { reader: SpeedReader; redis: RedisClient; maintenance: SpeedMaintenance } {
  const config = loadConfig();
  const redis = redisClientOf(config, { maxRetriesPerRequest: 2 });
  const keys = new SpeedKeys(config.SPEED_KEY_PREFIX);
  return { redis, reader: new SpeedReader({ redis, keys, ttlMs: config.SPEED_TTL }), maintenance: new SpeedMaintenance({ redis, keys, ttlMs: config.SPEED_TTL }) };
}

async function withReader<T>(fn: (r: ReturnType<typeof readerFromConfig>) => Promise<T>): Promise<void> {
  const r = readerFromConfig();
  try {
    console.log(JSON.stringify(await fn(r), null, 2));
  } finally {
    r.redis.disconnect();
  }
}

function zoneName(v: string): string {
  if (!isTimeZone(v)) throw new InvalidArgumentError(`unknown time zone "${v}": expected an IANA name such as Europe/Berlin`);
  return v;
}

type RangeFlags = { site: string; from: number; to: number; filter?: Filters; eventName?: string; currency?: string; zone?: string };
const range = (cmd: Command) =>
  cmd
    .requiredOption('--site <site>', 'site id')
    .option('--from <time>', 'start (ISO, date, now, or ago: 90m, 2d)', (v) => parseTime(v), Date.now() - 3_600_000)
    .option('--to <time>', 'end, exclusive', (v) => parseTime(v), Date.now() + 60_000)
    .option('--filter <dim=value>', 'filter, repeatable (country=DE --filter device=mobile)', parseFilter)
    .option('--event-name <name>', 'count only this custom event in `events`')
    .option('--currency <code>', 'the currency `revenue` sums (never across currencies; default USD, the store keeps every currency apart)', (v) => v.toUpperCase())
    .option('--zone <iana>', 'the time zone hours, days, weeks and months are cut in (default UTC; serving uses the site\'s)', zoneName);
const rangeQuery = (o: RangeFlags) => ({ site: o.site, from: o.from, to: o.to, ...(o.filter ? { filters: o.filter } : {}), ...(o.eventName ? { eventName: o.eventName } : {}), ...(o.currency ? { currency: o.currency } : {}), ...(o.zone ? { zone: o.zone } : {}) });

function queryCommand(): Command {
  const q = new Command('query').description('read the speed store (JSON on stdout)');
  range(q.command('series').description('one point per minute, hour, day, week or month'))
    .addOption(new Option('--grain <grain>', 'bucket size').choices([...GRAINS]).default('minute'))
    .option('--metrics <list>', `comma-separated: ${METRICS.join(', ')}`, parseMetrics, ['pageviews', 'visitors'] as Metric[])
    .action((o: RangeFlags & { grain: Grain; metrics: Metric[] }) => withReader(({ reader }) => reader.series({ ...rangeQuery(o), grain: o.grain, metrics: o.metrics })));
  range(q.command('totals').description('totals over the range (uniques by sketch union)'))
    .option('--metrics <list>', `comma-separated: ${METRICS.join(', ')}`, parseMetrics, ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue', 'bot_pageviews'] as Metric[])
    .action((o: RangeFlags & { metrics: Metric[] }) => withReader(({ reader }) => reader.totals({ ...rangeQuery(o), metrics: o.metrics })));
  range(q.command('breakdown').description('top values of a dimension'))
    .addOption(new Option('--dimension <dim>', 'dimension').choices([...DIMENSIONS]).makeOptionMandatory())
    .addOption(new Option('--metric <metric>', 'ranking metric').choices(['pageviews', 'visitors', 'events', 'revenue']).default('pageviews'))
    .option('--limit <n>', 'rows', (v) => Number(v), 10)
    .action((o: RangeFlags & { dimension: Dimension; metric: 'pageviews'; limit: number }) =>
      withReader(({ reader }) => reader.breakdown({ ...rangeQuery(o), dimension: o.dimension, metric: o.metric, limit: o.limit })),
    );
  q.command('realtime').description('visitors in the last 5 minutes, page views per minute over the last 30')
    .requiredOption('--site <site>', 'site id')
    .action((o: { site: string }) => withReader(({ reader }) => reader.realtime(o.site)));
  q.command('coverage').description('the span the speed store answers for a site')
    .requiredOption('--site <site>', 'site id')
    .action((o: { site: string }) => withReader(async ({ reader }) => reader.coverage(o.site)));
  q.command('sites').description('sites with speed data').action(() => withReader(({ maintenance }) => maintenance.sites()));
  return q;
}

export function speedCommand(): Command {
  const program = new Command('speed').description('speed layer: per-minute rollups in Redis from Kafka');
  program.command('run').description('run the speed consumer (metrics on SPEED_METRICS_PORT)').action(() => main());
  program
    .command('rebuild')
    .description('clear speed keys (of one site or all) with their offset records and re-read Kafka from a time; stop the consumers first')
    .option('--site <site>', 'only this site (default: every site)')
    .option('--from <time>', 'event time to rebuild from (default: the batch watermark W, else the retention start)', (v) => parseTime(v))
    .action(async (o: { site?: string; from?: number }) => {
      const config = loadConfig();
      const logger = createLogger({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'speed-rebuild');
      const bar = new cliProgress.SingleBar({ format: 'rebuild [{bar}] {percentage}% {value}/{total} records' }, cliProgress.Presets.shades_classic);
      let started = false;
      try {
        const res = await rebuildSpeedStore(config, logger, {
          ...(o.site ? { site: o.site } : {}),
          ...(o.from !== undefined ? { from: o.from } : {}),
          onProgress: (done, total) => {
            if (!started) bar.start(total, 0);
            started = true;
            bar.update(done);
          },
        });
        bar.stop();
        console.log(`rebuilt ${o.site ?? 'every site'} from ${new Date(res.from).toISOString()}: ${res.records} records re-read, ${res.keysDeleted} keys cleared, ${(res.ms / 1000).toFixed(1)} s`);
      } finally {
        bar.stop();
      }
    });
  program
    .command('retire')
    .description('delete speed buckets before a time (after batch published them)')
    .requiredOption('--before <time>', 'the batch watermark W', (v) => parseTime(v))
    .option('--site <site>', 'only this site')
    .action((o: { before: number; site?: string }) =>
      withReader(async ({ maintenance, redis }) => {
        await guardDataFormats(loadConfig(), { role: 'twinlane speed retire', stores: ['speed-store'], redis });
        return { minutesDeleted: await maintenance.retireBefore(o.before, o.site) };
      }),
    );
  program.addCommand(queryCommand());
  return program;
}
