/**
 * `twinlane pipeline` (`make pipeline`): the stack, every service, a few days of history and
 * today's traffic through the collector, the first batch run (so the past comes from batch and
 * today from speed), then the dashboard URL and example queries; live traffic until Ctrl-C,
 * SIGTERM or SIGHUP (a timeout, a process supervisor, a closed terminal), each of which stops
 * what this run started. A second run reuses the services that already run; `twinlane pipeline
 * stop` stops them when the run that started them is gone.
 */
import { SingleBar, Presets } from 'cli-progress';
import { loadConfig, type ConfigValues } from '../../core/config.ts';
import { createKafka } from '../../core/clients.ts';
import { UsageError, errorMessage } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { Metrics } from '../../core/metrics.ts';
import { loadSites, plainKeys } from '../../core/sites.ts';
import { runLoad, type LoadOptions } from '../../traffic/index.ts';
import { stackUp } from '../../stack/index.ts';
import { DATA_DIR_FORMAT, SPEED_STORE_FORMAT } from '../../core/data-format.ts';
import { guardDataFormats, inspectSpeedStore } from '../data-format.guard.ts';
import { rebuildSpeedStore } from '../speed.rebuild.ts';
import { stackPaths, sleep } from '../../core/processes.ts';
import { groupLag } from '../../orchestration/index.ts';
import { JobLedger } from '../../orchestration/index.ts';
import { schedulerOptions } from '../../orchestration/index.ts';
import { pipelineServices, ServiceSupervisor, type ServiceStatus } from './services.supervisor.ts';
import { flattenRuns, type RunResult } from '../../orchestration/index.ts';
import { SQL_FIRST_LOOK, warehouseEnabled } from '../../clickhouse/index.ts';

const DAY = 86_400_000;
/** Ctrl-C at a terminal, `timeout`/`kill`/a supervisor, a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A signal repeated within this is the same signal delivered twice (process group and make). */
const DUPLICATE_SIGNAL_MS = 1_000;

export interface PipelineOptions {
  historyDays: number;
  eventsPerDay: number;
  liveRate: number;
}

function say(line = ''): void {
  console.log(line);
}

async function sendWithBar(label: string, o: LoadOptions): Promise<void> {
  const bar = new SingleBar({ format: `${label.padEnd(22)} [{bar}] {value}/{total} events  {eta_formatted}`, hideCursor: true }, Presets.shades_classic);
  bar.start(o.events, 0);
  let sent = 0;
  const summary = await runLoad({ ...o, onProgress: (n) => bar.update((sent += n)) });
  bar.stop();
  say(`  ${summary.accepted} accepted, ${summary.rejected} dead-lettered (malformed on purpose), ${summary.failed} failed, ${summary.eventsPerSecond} events/s`);
}

async function waitForGroups(config: ConfigValues, logger: Logger, supervisor: ServiceSupervisor, groups: string[], timeoutMs: number): Promise<void> {
  const admin = createKafka(config, logger, 'pipeline').admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lags = await Promise.all(groups.map(async (g) => [g, await groupLag(admin, g, config.EVENTS_TOPIC)] as const));
      if (lags.every(([, l]) => l === 0)) return;
      const dead = supervisor.exited();
      if (dead.length) {
        const lines = dead.map((d) => `${d.status.spec.name} exited; the end of ${d.status.log}:\n${d.logTail}`);
        throw new UsageError('SERVICE_EXITED', `a service stopped while catching up:\n${lines.join('\n')}`);
      }
      if (Date.now() > deadline) {
        say(`  still behind after ${timeoutMs / 1000} s: ${lags.map(([g, l]) => `${g} ${l}`).join(', ')}; going on`);
        return;
      }
      await sleep(1_000);
    }
  } finally {
    await admin.disconnect();
  }
}

/** How long the first batch of `make pipeline` waits for the lake archiver to cover the days. */
const FIRST_BATCH_LAKE_WAIT_MS = 10_000;

async function firstBatch(config: ConfigValues, logger: Logger): Promise<RunResult | undefined> {
  const { buildJobPorts } = await import('../job-ports.ts');
  const { createScheduler } = await import('../scheduler.factory.ts');
  // The consumers were given their catch-up time above: the first run waits for the lake seconds, not BATCH_COMPLETE_WAIT.
  const ports = await buildJobPorts({ ...config, BATCH_COMPLETE_WAIT: Math.min(config.BATCH_COMPLETE_WAIT, FIRST_BATCH_LAKE_WAIT_MS) }, logger);
  try {
    const built = createScheduler(schedulerOptions(config, { retry: { attempts: 2, initialDelayMs: 2_000, maxDelayMs: 5_000 } }), ports, logger, new Metrics());
    if (!ports.batch) {
      say('  batch layer not built yet: no batch run (the dashboard shows speed data only)');
      return undefined;
    }
    try {
      return await built.scheduler.runNow('batch', 'pipeline');
    } finally {
      await built.ledger.close();
    }
  } finally {
    await ports.close();
  }
}

function describe(s: ServiceStatus): string {
  const tag = { started: 'started', reused: 'reused ', external: 'external', missing: 'MISSING' }[s.state];
  const extra = s.state === 'missing' ? `(${s.spec.entry} not built yet)` : s.pid ? `pid ${s.pid}  log ${s.log}` : 'already answers on its port; not managed here';
  return `  ${tag}  ${s.spec.what.padEnd(44)} ${extra}`;
}

/**
 * Data of an older format (an earlier Twinlane's ./data and Redis) would make the services refuse
 * to start: the guided start migrates DATA_DIR and rebuilds an older speed store from W first.
 */
async function upgradeData(config: ConfigValues, logger: Logger): Promise<void> {
  for (const r of await guardDataFormats(config, { role: 'twinlane pipeline', stores: ['data-dir'], mode: 'migrate', logger })) {
    if (r.action === 'migrated') say(`  DATA_DIR migrated to format ${DATA_DIR_FORMAT}`);
  }
  const speed = await inspectSpeedStore(config);
  if (speed.verdict === 'older') {
    say(`  the speed store holds format ${speed.found}: rebuilding it from Kafka (format ${SPEED_STORE_FORMAT})`);
    const res = await rebuildSpeedStore(config, logger);
    say(`  rebuilt: ${res.records} records re-read in ${(res.ms / 1000).toFixed(1)} s`);
  }
}

export async function runPipeline(o: PipelineOptions): Promise<void> {
  const t0 = Date.now();
  say('# stack');
  await stackUp(loadConfig({ ...process.env, LOG_LEVEL: 'warn' }), (l) => say(`  ${l}`));
  const config = loadConfig();
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', pretty: true }, 'pipeline');
  await upgradeData(config, logger);
  const paths = stackPaths();
  // The demo sends days of history from this one address as fast as the collector takes it: the
  // per-client limit is raised for it unless set (a deployment keeps COLLECTOR_RATE_LIMIT_CLIENT's default).
  const supervisor = new ServiceSupervisor(paths, { COLLECTOR_RATE_LIMIT_CLIENT: '10000000/1m', ...process.env, LOG_PRETTY: 'false' });
  let stoppingSince: number | undefined;
  const stopAll = async (code: number, signal?: NodeJS.Signals) => {
    if (stoppingSince !== undefined) {
      // One signal can arrive twice: `timeout` signals its whole process group and make forwards
      // SIGTERM to this process as well. Only a later Ctrl-C means "force".
      if (signal === 'SIGINT' && Date.now() - stoppingSince > DUPLICATE_SIGNAL_MS) {
        say('  forcing: SIGKILL to what is still stopping');
        supervisor.killStopping();
      }
      return;
    }
    stoppingSince = Date.now();
    say(`\n# stopping what this run started${signal ? ` (${signal}` : ' ('}; Ctrl-C again to force)`);
    await supervisor.stopStarted((l) => say(`  ${l}`));
    say('  the stack (Kafka, Redis, registry, ClickHouse) keeps running: `make stack-down` stops it');
    process.exit(code);
  };
  // A closed terminal takes stdout with it: the stop must go on without its progress lines.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  for (const signal of STOP_SIGNALS) process.on(signal, () => void stopAll(0, signal));

  try {
    say('\n# services');
    for (const spec of pipelineServices(config)) say(describe(await supervisor.ensure(spec)));

    const sites = loadSites(config.SITES_FILE).list().map((s) => ({ id: s.id, writeKey: plainKeys(s, 'make pipeline (it sends demo traffic)').writeKey }));
    const collectorUrl = `http://127.0.0.1:${config.COLLECTOR_PORT}`;
    const now = Date.now();
    const today = Math.floor(now / DAY) * DAY;
    const base = { collectorUrl, sites, rate: 0, batchSize: 200, concurrency: 4, malformedFraction: 0.002 } as const;
    const ledger = JobLedger.inDataDir(config.DATA_DIR);
    const lastBatch = await ledger.lastSuccess('batch');
    const covered = (lastBatch?.details.watermark as number | null | undefined) ?? null;
    say('\n# traffic (seeded load generator through the collector)');
    if (covered !== null && covered >= today) {
      // A second run on the same data: sending the seeded days again would only count today twice.
      say(`  history and today already in place (batch watermark ${new Date(covered).toISOString()}): only live traffic from now on`);
    } else {
      await sendWithBar(`history, ${o.historyDays} day(s)`, { ...base, seed: 20_240_601, events: o.historyDays * o.eventsPerDay, from: today - o.historyDays * DAY, to: today });
      const todaySoFar = Math.max(100, Math.round((o.eventsPerDay * (now - today)) / DAY));
      await sendWithBar('today so far', { ...base, seed: now % 1_000_000_007, events: todaySoFar, from: today, to: now });
    }

    say('\n# waiting for the lake archiver and the speed consumer to catch up');
    await waitForGroups(config, logger, supervisor, [config.LAKE_GROUP, config.SPEED_GROUP], 120_000);
    // Until here a dead service ends the run (waitForGroups names it); from here the run goes on
    // without it (the others still answer), and says which and why.
    supervisor.watchExits(({ status, logTail }) => {
      say(`\n! ${status.spec.name} (pid ${status.pid}) exited; the end of ${status.log}:\n${logTail}\n  the other services go on; make pipeline again restarts it`);
    });

    say('\n# first batch run (then drift check, speed retirement and the ClickHouse warehouse)');
    const batch = await firstBatch(config, logger);
    if (batch) {
      for (const r of flattenRuns(batch)) {
        say(r.status === 'skipped' ? `  ${r.job}: skipped (${r.reason})` : `  ${r.job.padEnd(12)} ${r.status}  ${r.run.days.length} day(s), ${r.run.rows} rows${r.run.error ? `  ${r.run.error}` : ''}`);
      }
    }

    const live = liveTraffic({ ...base, rate: o.liveRate });
    printSummary(config, sites[0]!.id, plainKeys(loadSites(config.SITES_FILE).get(sites[0]!.id)!, 'make pipeline').readKey, t0, o.liveRate);
    await live;
  } catch (err) {
    if (stoppingSince !== undefined) return; // a signal's stop is under way and ends the process
    console.error(`pipeline: ${errorMessage(err)}`);
    await stopAll(1);
  }
}

/**
 * `twinlane pipeline stop`: stops the services a pipeline run started, from their PID files, when
 * that run cannot (it was killed, or its terminal is gone). The stack keeps running.
 */
export async function stopPipeline(): Promise<void> {
  const supervisor = new ServiceSupervisor(stackPaths(), process.env);
  const stopped = await supervisor.stopRecorded(pipelineServices(loadConfig()), (l) => say(`  ${l}`));
  say(stopped ? `${stopped} service(s) stopped; the stack (Kafka, Redis, registry, ClickHouse) keeps running: \`make stack-down\` stops it` : 'no pipeline service is running (none of the PID files in .local/stack/ names a live one)');
}

/** Live events stamped with the time they are sent, in 10-second slices until the process stops. */
async function liveTraffic(base: Omit<LoadOptions, 'seed' | 'events' | 'from' | 'to'>): Promise<void> {
  for (let slice = 0; ; slice++) {
    const now = Date.now();
    await runLoad({ ...base, live: true, seed: (now + slice) % 1_000_000_007, events: base.rate * 10, from: now, to: now + 10_000 }).catch((err: unknown) => {
      console.error(`live traffic: ${errorMessage(err)} (retrying)`);
      return sleep(2_000);
    });
  }
}

function printSummary(config: ConfigValues, site: string, readKey: string, t0: number, liveRate: number): void {
  const api = `http://127.0.0.1:${config.SERVING_PORT}`;
  const auth = `-H 'Authorization: Bearer ${readKey}'`;
  say(`\n# ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  say(`  dashboard   ${api}/dashboard/${site}#key=${readKey}`);
  say(`  API docs    ${api}/docs`);
  say('\n  example queries:');
  say(`  curl ${auth} '${api}/v1/sites/${site}/series?period=7d&grain=day&metrics=pageviews,visitors,revenue'`);
  say(`  curl ${auth} '${api}/v1/sites/${site}/totals?period=7d&metrics=pageviews,visitors&compare=previous_period'`);
  say(`  curl ${auth} '${api}/v1/sites/${site}/breakdown/page?period=7d&limit=10'`);
  say(`  curl ${auth} '${api}/v1/sites/${site}/coverage'`);
  say(`  node --import tsx bin/twinlane.ts jobs list`);
  if (warehouseEnabled(config)) say(`  node --import tsx bin/twinlane.ts sql "${SQL_FIRST_LOOK}"`);
  say(`\n  live traffic: ${liveRate} events/s. Ctrl-C (or SIGTERM, SIGHUP) stops the services this run started; \`twinlane pipeline stop\` stops them if this run is gone; \`make stack-down\` stops Kafka, Redis, the registry and ClickHouse.`);
}
