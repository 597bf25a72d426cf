/**
 * `make bench [ONLY=group] [ROUNDS=n]`: runs each group's benchmark in its own process
 * (bench/<group>.bench.ts, then any bench/<group>-<part>.bench.ts), one after the other so they do
 * not compete for the two cores, `--rounds` times (default 3). Each round's figures are shown as
 * `  round k/n: <name> = <number>`; then every figure is printed as the median of its rounds,
 * `bench: <name> = <median>`, with `bench: <name>_min` and `_max` beside it. The run is appended to
 * bench/history.jsonl with the commit and date (`make bench-compare` reads it), with
 * `machine_ms` (bench/machine.ts) measured before and after the groups: how fast the machine was.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { appendHistory, MACHINE_FIGURE, parseFigure, summarize, type Summary } from './figures.ts';

const GROUPS = ['collector', 'speed', 'batch', 'serving', 'dlq', 'schemas', 'clickhouse', 'cluster', 'import'] as const;
const HISTORY = 'bench/history.jsonl';

const program = new Command('bench')
  .description('Run the benchmarks, each the given rounds, and print `bench: <name> = <median>` lines (with _min and _max)')
  .option('--only <group>', `one group: ${GROUPS.join(', ')}`)
  .option('--rounds <n>', 'rounds of each benchmark; the figures are their medians', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 20) throw new InvalidArgumentError('expected a whole number from 1 to 20');
    return n;
  }, Number(process.env.BENCH_ROUNDS ?? 3))
  .option('--no-history', `do not append this run to ${HISTORY}`)
  .parse();
const { only, rounds, history } = program.opts<{ only?: string; rounds: number; history: boolean }>();
if (only && !GROUPS.includes(only as (typeof GROUPS)[number])) {
  console.error(`bench: unknown group "${only}"; expected one of ${GROUPS.join(', ')}`);
  process.exit(2);
}

/** Runs one benchmark file once: its output shown as it comes, its figures returned. */
function runOnce(file: string, round: number): Promise<{ figures: Map<string, number>; ok: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
    const figures = new Map<string, number>();
    createInterface({ input: child.stdout }).on('line', (line) => {
      const f = parseFigure(line);
      if (!f) return void console.log(line);
      figures.set(f.name, f.value);
      console.log(`  round ${round}/${rounds}: ${f.name} = ${f.value}`);
    });
    child.on('close', (code) => {
      if (code !== 0) console.error(`bench: ${file} failed in round ${round} (exit ${code})`);
      resolve({ figures, ok: code === 0 });
    });
  });
}

const commit = (() => {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  // The history itself is not a change of the code measured (an earlier group of the same sitting wrote it).
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', `:!${HISTORY}`], { encoding: 'utf8' }).stdout.trim() !== '';
  return dirty ? `${head}+changes` : head;
})();

/** bench/machine.ts once, in a process of its own: its `machine_ms`. */
function machineRun(): Map<string, number> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/machine.ts'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const f = r.status === 0 ? r.stdout.split('\n').map(parseFigure).find((x) => x?.name === MACHINE_FIGURE) : undefined;
  if (!f) console.error(`bench: bench/machine.ts failed (exit ${r.status}); this run is compared without the machine's speed`);
  return new Map(f ? [[f.name, f.value]] : []);
}

let failed = false;
const all: Record<string, Summary> = {};
const groups = only ? [only] : [...GROUPS];
const machine = [machineRun()];
for (const group of groups) {
  const file = `bench/${group}.bench.ts`;
  if (!existsSync(file)) {
    console.error(`bench: ${file} does not exist yet`);
    failed = true;
    continue;
  }
  const parts = readdirSync('bench').filter((f) => f.startsWith(`${group}-`) && f.endsWith('.bench.ts')).sort().map((f) => `bench/${f}`);
  console.log(`# ${group}`);
  for (const f of [file, ...parts]) {
    const results: Map<string, number>[] = [];
    for (let r = 1; r <= rounds; r++) {
      const res = await runOnce(f, r);
      if (!res.ok) failed = true;
      results.push(res.figures);
    }
    for (const [name, s] of summarize(results)) {
      all[name] = s;
      console.log(`bench: ${name} = ${s.median}`);
      console.log(`bench: ${name}_min = ${s.min}`);
      console.log(`bench: ${name}_max = ${s.max}`);
    }
  }
}
machine.push(machineRun());
const machineSummary = summarize(machine).get(MACHINE_FIGURE);
if (machineSummary && Object.keys(all).length > 0) {
  all[MACHINE_FIGURE] = machineSummary;
  console.log(`# the machine: ${machine[0]!.get(MACHINE_FIGURE) ?? '-'} ms before the groups, ${machine[1]!.get(MACHINE_FIGURE) ?? '-'} ms after`);
  console.log(`bench: ${MACHINE_FIGURE} = ${machineSummary.median}`);
  console.log(`bench: ${MACHINE_FIGURE}_min = ${machineSummary.min}`);
  console.log(`bench: ${MACHINE_FIGURE}_max = ${machineSummary.max}`);
}
if (history && Object.keys(all).length > 0) {
  appendHistory(HISTORY, { at: new Date().toISOString(), commit, groups, rounds, figures: all });
  console.log(`# appended to ${HISTORY} (commit ${commit}); compare with the previous run: make bench-compare`);
}
process.exit(failed ? 1 : 0);
