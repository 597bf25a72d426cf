/**
 * `make bench [ONLY=group]`: runs each group's benchmark in its own process (bench/<group>.bench.ts,
 * then any bench/<group>-<part>.bench.ts),
 * one after the other so they do not compete for the two cores. Each prints its figures as
 * `bench: <name> = <number>` lines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { Command } from 'commander';

const GROUPS = ['collector', 'speed', 'batch', 'serving', 'dlq', 'schemas', 'clickhouse'] as const;

const program = new Command('bench')
  .description('Run the benchmarks and print `bench: <name> = <number>` lines')
  .option('--only <group>', `one group: ${GROUPS.join(', ')}`)
  .parse();
const only = program.opts<{ only?: string }>().only;
if (only && !GROUPS.includes(only as (typeof GROUPS)[number])) {
  console.error(`bench: unknown group "${only}"; expected one of ${GROUPS.join(', ')}`);
  process.exit(2);
}
let failed = false;
for (const group of only ? [only] : GROUPS) {
  const file = `bench/${group}.bench.ts`;
  if (!existsSync(file)) {
    console.error(`bench: ${file} does not exist yet`);
    failed = true;
    continue;
  }
  const parts = readdirSync('bench').filter((f) => f.startsWith(`${group}-`) && f.endsWith('.bench.ts')).sort().map((f) => `bench/${f}`);
  console.log(`# ${group}`);
  for (const f of [file, ...parts]) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', f], { stdio: 'inherit', env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
    if (r.status !== 0) {
      console.error(`bench: ${f} failed (exit ${r.status})`);
      failed = true;
    }
  }
}
process.exit(failed ? 1 : 0);
