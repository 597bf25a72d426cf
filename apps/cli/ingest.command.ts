/** CLI: `twinlane ingest collector` runs the collector, `twinlane ingest loadgen` sends traffic to one. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfig } from '../../core/config.ts';
import { parseDuration } from '../../core/durations.ts';
import { UsageError } from '../../core/errors.ts';
import { loadSites, plainKeys } from '../../core/sites.ts';
import { runCollector } from '../collector.main.ts';
import { runLoad, type LoadSummary } from '../../traffic/index.ts';
import type { Compression } from '../../ingest/index.ts';

const whole = (name: string, min: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
  return Number(v);
};
const fraction = (v: string) => {
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v) || n < 0 || n > 1) throw new InvalidArgumentError('expected a fraction from 0 to 1');
  return n;
};
const duration = (v: string) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration such as 30m, 1h or 2d');
  return ms;
};

interface LoadgenFlags {
  events: number;
  rate: number;
  batch: number;
  concurrency: number;
  malformed: number;
  seed: number;
  sites?: string;
  span: number;
  live?: boolean;
  gzip?: boolean;
  truth?: string;
  collector?: string;
}

function printSummary(s: LoadSummary): void {
  console.log(`requests   ${s.requests} (${Object.entries(s.byStatus).map(([k, v]) => `${k === '0' ? 'network error' : k}: ${v}`).join(', ')}), ${s.retries} retried`);
  console.log(`events     ${s.events} sent: ${s.accepted} accepted, ${s.rejected} rejected (${s.malformedSent} malformed on purpose), ${s.failed} failed`);
  console.log(`rate       ${s.eventsPerSecond} accepted events/s over ${(s.elapsedMs / 1000).toFixed(1)} s`);
  if (s.unexpected > 0) console.log(`UNEXPECTED ${s.unexpected} events got another outcome than intended`);
}

async function loadgen(flags: LoadgenFlags): Promise<void> {
  const config = loadConfig();
  const all = loadSites(config.SITES_FILE);
  const ids = flags.sites ? flags.sites.split(',').map((s) => s.trim()) : all.ids();
  const sites = ids.map((id) => {
    const site = all.get(id);
    if (!site) throw new UsageError('UNKNOWN_SITE', `site "${id}" is not in ${config.SITES_FILE} (known: ${all.ids().join(', ')})`);
    return { id, writeKey: plainKeys(site, 'the load generator').writeKey };
  });
  const bar = new SingleBar({ format: 'loadgen [{bar}] {percentage}% | {value}/{total} events | {eta_formatted} left', hideCursor: true }, Presets.shades_classic);
  bar.start(flags.events, 0);
  const now = Date.now();
  let done = 0;
  const summary = await runLoad({
    collectorUrl: flags.collector ?? `http://127.0.0.1:${config.COLLECTOR_PORT}`,
    sites,
    events: flags.events,
    seed: flags.seed,
    rate: flags.rate,
    batchSize: flags.batch,
    concurrency: flags.concurrency,
    malformedFraction: flags.malformed,
    from: now - flags.span,
    to: now,
    live: flags.live ?? false,
    gzip: flags.gzip ?? false,
    ...(flags.truth ? { truthFile: flags.truth } : {}),
    onProgress: (n) => bar.update((done += n)),
  }).finally(() => bar.stop());
  printSummary(summary);
  if (summary.failed > 0 || summary.unexpected > 0) process.exitCode = 1;
}

export function ingestCommand(): Command {
  const program = new Command('ingest').description('The collector (HTTP → Kafka) and the load generator');

  program
    .command('collector')
    .description('run the collector: POST /v1/collect, /t.js, /metrics (Ctrl-C stops it gracefully)')
    .option('--port <port>', 'listen port (default COLLECTOR_PORT)', whole('port', 0))
    .option('--host <host>', 'listen address (default: COLLECTOR_HOST, 127.0.0.1)')
    .addOption(new Option('--compression <codec>', 'Kafka compression').choices(['none', 'lz4']))
    .action(async (o: { port?: number; host?: string; compression?: Compression }) => {
      await runCollector({ ...(o.host ? { host: o.host } : {}), ...(o.port === undefined ? {} : { port: o.port }), ...(o.compression ? { compression: o.compression } : {}) });
    });

  program
    .command('loadgen')
    .description('send seeded, realistic traffic to a collector and check every answer')
    .option('--events <n>', 'events to send', whole('--events', 1), 10_000)
    .option('--rate <n>', 'events per second (0 = as fast as possible)', whole('--rate', 0), 0)
    .option('--batch <n>', 'most events per request', whole('--batch', 1), 100)
    .option('--concurrency <n>', 'requests in flight', whole('--concurrency', 1), 8)
    .option('--malformed <fraction>', 'share of malformed events, 0..1', fraction, 0)
    .option('--seed <n>', 'random seed (same seed, same traffic)', whole('--seed', 0), 1)
    .option('--sites <ids>', 'comma-separated site ids (default: every site in SITES_FILE)')
    .option('--span <duration>', 'event times spread over this much time before now', duration, 3_600_000)
    .option('--live', 'stamp each event with the time it is sent')
    .option('--gzip', 'gzip request bodies')
    .option('--truth <file>', 'write the ground truth as NDJSON (accepted events as stored, rejected ones with their code)')
    .option('--collector <url>', 'collector base URL (default http://127.0.0.1:COLLECTOR_PORT)')
    .action(loadgen);

  return program;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ingestCommand()
    .parseAsync()
    .catch((err: unknown) => {
      console.error(`ingest: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
