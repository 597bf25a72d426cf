/**
 * `twinlane dlq …`: list, show, stats, replay and prune the dead-letter store; `archiver`
 * runs the DLQ archiver in the foreground.
 */
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { loadConfig, type ConfigValues } from '../../core/config.ts';
import { parseDuration } from '../../core/durations.ts';
import { UsageError, errorMessage } from '../../core/errors.ts';
import { DeadLetterStore } from '../../dlq/index.ts';
import { formatLetter, formatList, formatStats, formatSummary } from '../../dlq/index.ts';
import { LIST_LIMIT } from '../../dlq/index.ts';
import { loadTransform } from '../replay.runtime.ts';
import { guardDataFormats } from '../data-format.guard.ts';
import { DEAD_LETTER_CODES, LETTER_STATUSES, STAGES, type DeadLetterCode, type LetterFilter, type LetterStatus, type Stage } from '../../dlq/index.ts';

interface FilterFlags {
  stage?: string[];
  code?: string[];
  site?: string[];
  status?: string[];
  from?: number;
  to?: number;
  id?: string[];
}

const list = (allowed: readonly string[] | undefined, what: string) => (value: string, previous: string[] | undefined) => {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (allowed && !allowed.includes(item)) throw new InvalidArgumentError(`unknown ${what} "${item}"; expected one of ${allowed.join(', ')}`);
  return [...(previous ?? []), ...items];
};

/** An ISO-8601 time, a date, `now`, or a duration ago such as 24h or 7d. */
export function parseTime(value: string, now = Date.now()): number {
  if (value === 'now') return now;
  const ago = parseDuration(value);
  if (ago !== undefined) return now - ago;
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : /Z|[+-]\d{2}:?\d{2}$/.test(value) ? value : `${value}Z`);
    if (!Number.isNaN(t)) return t;
  }
  throw new InvalidArgumentError(`"${value}" is not a time: use ISO-8601 (2025-01-31T12:00:00Z), a date (2025-01-31, UTC) or a duration ago (24h, 7d)`);
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--stage <stages>', `stage(s), comma-separated: ${STAGES.join(', ')}`, list(STAGES, 'stage'))
    .option('--code <codes>', `error code(s): ${Object.keys(DEAD_LETTER_CODES).join(', ')}`, list(Object.keys(DEAD_LETTER_CODES), 'code'))
    .option('--site <sites>', 'site id(s)', list(undefined, 'site'))
    .option('--status <statuses>', `status(es): ${LETTER_STATUSES.join(', ')}`, list(LETTER_STATUSES, 'status'))
    .option('--from <time>', 'first seen at or after (ISO-8601, date, or duration ago like 24h)', (v) => parseTime(v))
    .option('--to <time>', 'first seen before (same forms as --from)', (v) => parseTime(v));
}

function toFilter(f: FilterFlags): LetterFilter {
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw new UsageError('BAD_RANGE', `--from ${new Date(f.from).toISOString()} is not before --to ${new Date(f.to).toISOString()}`);
  return {
    ...(f.stage ? { stage: f.stage as Stage[] } : {}),
    ...(f.code ? { code: f.code as DeadLetterCode[] } : {}),
    ...(f.site ? { site: f.site } : {}),
    ...(f.status ? { status: f.status as LetterStatus[] } : {}),
    ...(f.id ? { ids: f.id } : {}),
    ...(f.from !== undefined ? { from: f.from } : {}),
    ...(f.to !== undefined ? { to: f.to } : {}),
  };
}

function openStore(config: ConfigValues): DeadLetterStore {
  return new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
}

async function withStore<T>(fn: (store: DeadLetterStore, config: ConfigValues) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const store = openStore(config);
  try {
    await store.open();
    return await fn(store, config);
  } finally {
    store.close();
  }
}

export function dlqCommand(): Command {
  const dlq = new Command('dlq').description('dead-letter store: list, show, stats, replay, prune; run the archiver');

  withFilters(dlq.command('list').description('list dead letters (oldest first)'))
    .option('--limit <n>', 'rows to show', (v) => positiveInt(v), LIST_LIMIT)
    .option('--offset <n>', 'rows to skip', (v) => positiveInt(v, true), 0)
    .option('--json', 'JSON lines (payload as base64) instead of a table')
    .action(async (opts: FilterFlags & { limit: number; offset: number; json?: boolean }) => {
      await withStore(async (store) => {
        const filter = toFilter(opts);
        const letters = await store.list(filter, { limit: opts.limit, offset: opts.offset, payload: opts.json === true });
        if (opts.json) for (const l of letters) console.log(JSON.stringify({ ...l, payload: l.payload.toString('base64') }));
        else console.log(formatList(letters, await store.count(filter)));
      });
    });

  dlq
    .command('show')
    .description('one dead letter: metadata, payload as text and as hex')
    .argument('<id>', 'dead-letter id (from `dlq list`)')
    .option('--json', 'JSON (payload as base64)')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withStore(async (store) => {
        const letter = await store.get(id);
        if (!letter) throw new UsageError('UNKNOWN_ID', `no dead letter with id ${id} (see \`dlq list\`)`);
        console.log(opts.json ? JSON.stringify({ ...letter, payload: letter.payload.toString('base64') }, null, 2) : formatLetter(letter));
      });
    });

  withFilters(dlq.command('stats').description('counts by stage, code and status, over time'))
    .addOption(new Option('--bucket <unit>', 'time bucket').choices(['minute', 'hour', 'day']).default('hour'))
    .option('--json', 'JSON rows')
    .action(async (opts: FilterFlags & { bucket: 'minute' | 'hour' | 'day'; json?: boolean }) => {
      await withStore(async (store) => {
        const rows = await store.stats(toFilter(opts), opts.bucket);
        console.log(opts.json ? JSON.stringify(rows) : formatStats(rows, opts.bucket));
      });
    });

  withFilters(dlq.command('replay').description('send dead letters through validation again; those that pass go to the events topic once'))
    .option('--id <ids>', 'dead-letter id(s), comma-separated or repeated', list(undefined, 'id'))
    .option('--dry-run', 'say what would pass and what would fail (and why); send and change nothing')
    .option('--transform <file.ts>', 'module exporting a function that repairs a record (see dlq/README.md)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: FilterFlags & { dryRun?: boolean; transform?: string; json?: boolean }) => {
      const filter = toFilter(opts);
      const transform = opts.transform ? await loadTransform(opts.transform) : undefined;
      const { runReplay } = await import('../replay.runtime.ts');
      if (!opts.dryRun) await guardDataFormats(loadConfig(), { role: 'twinlane dlq replay', stores: ['data-dir'] });
      const bar = new cliProgress.SingleBar({ format: '{phase} [{bar}] {value}/{total}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
      let phase = '';
      const summary = await runReplay(loadConfig(), {
        filter,
        dryRun: opts.dryRun === true,
        ...(transform ? { transform } : {}),
        onProgress: (p, done, total) => {
          if (p !== phase) {
            if (phase) bar.stop();
            phase = p;
            bar.start(total, 0, { phase: p === 'check' ? 'checking' : 'sending ' });
          }
          bar.update(done);
        },
      }).finally(() => bar.stop());
      console.log(opts.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    });

  dlq
    .command('prune')
    .description('delete dead letters first seen before the retention window (RETENTION_DLQ)')
    .option('--older-than <duration>', 'instead of RETENTION_DLQ, e.g. 30d', (v) => {
      const ms = parseDuration(v);
      if (ms === undefined) throw new InvalidArgumentError(`"${v}" is not a duration such as 30d`);
      return ms;
    })
    .action(async (opts: { olderThan?: number }) => {
      await guardDataFormats(loadConfig(), { role: 'twinlane dlq prune', stores: ['data-dir'] });
      await withStore(async (store, config) => {
        const removed = store.prune(Date.now() - (opts.olderThan ?? config.RETENTION_DLQ));
        console.log(removed.length ? `removed ${removed.length} day(s): ${removed.join(', ')}` : 'nothing older than the retention window');
      });
    });

  dlq
    .command('archiver')
    .description('run the DLQ archiver (DLQ topic → store) in the foreground; /metrics on DLQ_METRICS_PORT')
    .action(async () => {
      await import('../dlq-archiver.main.ts');
    });

  return dlq;
}

function positiveInt(v: string, zero = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (zero ? 0 : 1)) throw new InvalidArgumentError(`"${v}" is not a whole number${zero ? '' : ' above 0'}`);
  return n;
}
