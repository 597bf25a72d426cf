/**
 * `twinlane jobs list|show|run|status` (the ledger and manual runs), `twinlane scheduler start`
 * (the long-running scheduler) and `twinlane pipeline` (everything, for `make pipeline`).
 */
import { Command, Option } from 'commander';
import { createTask } from 'node-cron';
import { loadConfig } from '../../core/config.ts';
import { UsageError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { Metrics } from '../../core/metrics.ts';
import { formatRun, formatRunTable } from '../../orchestration/index.ts';
import { JobLedger } from '../../orchestration/index.ts';
import { schedulerOptions } from '../../orchestration/index.ts';
import { JOB_NAMES, type JobName, type RunStatus } from '../../orchestration/index.ts';

const STATUSES: RunStatus[] = ['running', 'succeeded', 'failed', 'abandoned'];

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError('CLI_ARGUMENT', `--limit expects a whole number of at least 1, got "${v}"`);
  return n;
}

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('The job ledger: every batch, drift, speed-retire, compaction and retention run');

  jobs
    .command('list')
    .description('list runs, newest first')
    .addOption(new Option('--job <job>', 'only this job').choices(JOB_NAMES))
    .addOption(new Option('--status <status>', 'only runs with this status').choices(STATUSES))
    .option('--limit <n>', 'at most this many runs', positiveInt, 20)
    .option('--json', 'JSON lines instead of a table')
    .action(async (o: { job?: JobName; status?: RunStatus; limit: number; json?: boolean }) => {
      const ledger = JobLedger.inDataDir(loadConfig().DATA_DIR);
      const runs = await ledger.list({ ...(o.job ? { job: o.job } : {}), ...(o.status ? { status: o.status } : {}), limit: o.limit });
      if (o.json) for (const r of runs) console.log(JSON.stringify(r));
      else console.log(runs.length ? formatRunTable(runs) : `no runs recorded yet in ${ledger.file}`);
      if (ledger.skippedLines) console.error(`warning: ${ledger.skippedLines} unreadable line(s) in ${ledger.file} were skipped`);
    });

  jobs
    .command('show')
    .description('one run in full: timing, attempts, days, rows, error, drift per metric')
    .argument('<id>', 'run id or a unique prefix of it (as `jobs list` prints)')
    .option('--json', 'JSON instead of text')
    .action(async (id: string, o: { json?: boolean }) => {
      const ledger = JobLedger.inDataDir(loadConfig().DATA_DIR);
      const run = await ledger.get(id);
      if (!run) throw new UsageError('RUN_NOT_FOUND', `no run with id or unique id prefix "${id}" in ${ledger.file} (see \`twinlane jobs list\`)`);
      console.log(o.json ? JSON.stringify(run, null, 2) : formatRun(run));
    });

  jobs
    .command('run')
    .description('run a job now, through the same lock, retries and ledger as the scheduler (batch also runs drift and speed retire)')
    .argument('<job>', 'batch, compaction or retention')
    .action(async (name: string) => {
      if (!['batch', 'compaction', 'retention'].includes(name)) throw new UsageError('JOB_UNKNOWN', `cannot run "${name}": expected batch, compaction or retention`);
      const config = loadConfig();
      const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'jobs');
      const { buildJobPorts } = await import('../job-ports.ts');
      const { createScheduler } = await import('../scheduler.factory.ts');
      const { guardDataFormats } = await import('../data-format.guard.ts');
      // The scheduler's jobs, run by hand: like the scheduler, they refuse data of another format.
      await guardDataFormats(config, { role: `twinlane jobs run ${name}`, stores: ['data-dir', 'speed-store'], logger });
      const ports = await buildJobPorts(config, logger);
      try {
        const { scheduler, ledger } = createScheduler(schedulerOptions(config, { retry: { attempts: 1, initialDelayMs: 0, maxDelayMs: 0 } }), ports, logger, new Metrics());
        const result = await scheduler.runNow(name as JobName).finally(() => ledger.close());
        const { flattenRuns } = await import('../../orchestration/index.ts');
        const lines = flattenRuns(result).map((r) =>
          r.status === 'skipped' ? `${r.job}: skipped (${r.reason}${r.heldBy ? `, held by ${r.heldBy}` : ''})` : `${r.job}: ${r.status}  run ${r.run.id.slice(0, 8)}${r.run.error ? `  ${r.run.error}` : ''}`,
        );
        console.log(lines.join('\n'));
        if (result.status !== 'succeeded') process.exitCode = 1;
      } finally {
        await ports.close();
      }
    });

  jobs
    .command('status')
    .description('per job: schedule, next run, last success')
    .action(async () => {
      const config = loadConfig();
      const options = schedulerOptions(config);
      const ledger = JobLedger.inDataDir(config.DATA_DIR);
      for (const [job, cron] of Object.entries(options.crons)) {
        const task = createTask(cron, () => undefined, { timezone: options.timezone });
        const last = await ledger.lastSuccess(job as JobName);
        console.log(`${job.padEnd(12)} ${cron.padEnd(14)} ${options.timezone}  next ${task.getNextRuns(1)[0]?.toISOString() ?? '-'}  last success ${last?.endedAt ? new Date(last.endedAt).toISOString() : 'never'}`);
        await task.destroy();
      }
    });
  return jobs;
}

export function schedulerCommand(): Command {
  const cmd = new Command('scheduler').description('The scheduler: nightly batch (+ drift, speed retire), hourly compaction, daily retention');
  cmd
    .command('start')
    .description('run the scheduler until SIGINT/SIGTERM; /metrics on SCHEDULER_METRICS_PORT')
    .option('--no-catch-up', 'do not run slots missed while no scheduler ran')
    .action(async (o: { catchUp: boolean }) => {
      const { runScheduler } = await import('../scheduler.main.ts');
      await runScheduler({ catchUp: o.catchUp });
    });
  return cmd;
}

export function pipelineCommand(): Command {
  const cmd = new Command('pipeline')
    .description('start every service, send live traffic and a few days of history, run the first batch, print the dashboard URL; Ctrl-C, SIGTERM or SIGHUP stops what it started')
    .option('--history-days <n>', 'days of history to send before today', positiveInt, 3)
    .option('--events-per-day <n>', 'history events per day', positiveInt, 20_000)
    .option('--live-rate <n>', 'live events per second', positiveInt, 20)
    .action(async (o: { historyDays: number; eventsPerDay: number; liveRate: number }) => {
      const { runPipeline } = await import('../pipeline/pipeline.run.ts');
      await runPipeline(o);
    });
  cmd
    .command('stop')
    .description("stop the services a pipeline run started (from their PID files), when that run is gone; the stack keeps running")
    .action(async () => {
      const { stopPipeline } = await import('../pipeline/pipeline.run.ts');
      await stopPipeline();
    });
  return cmd;
}
