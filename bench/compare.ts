/**
 * `make bench-compare`: every figure of the latest `make bench` run (bench/history.jsonl) against
 * the latest earlier run that measured it, as a ratio; a change for the worse beyond the tolerance
 * (15%; smaller is better for times, memory, CPU per event and error) is flagged, and the exit
 * code is 1 when any figure dropped. Where both runs measured the machine (`machine_ms`), times,
 * rates and CPU per event are also shown net of its change, and judged on that.
 */
import { Command, InvalidArgumentError } from 'commander';
import { compareLatest, readHistory } from './figures.ts';

const program = new Command('bench-compare')
  .description('Compare the latest benchmark run with the previous one (bench/history.jsonl)')
  .option('--file <path>', 'the history file', 'bench/history.jsonl')
  .option('--tolerance <fraction>', 'a change for the worse beyond this is a drop', (v) => {
    const n = Number(v);
    if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a fraction from 0 to 1');
    return n;
  }, 0.15)
  .parse();
const { file, tolerance } = program.opts<{ file: string; tolerance: number }>();
const history = readHistory(file);
if (history.length === 0) {
  console.error(`bench-compare: ${file} holds no runs yet; run \`make bench\` first`);
  process.exit(2);
}
const latest = history.at(-1)!;
const rows = compareLatest(history, tolerance);
if (rows.length === 0) {
  console.log(`bench-compare: the latest run (${latest.at}, ${latest.commit}) has no figure an earlier run measured`);
  process.exit(0);
}
console.log(`latest run ${latest.at} (${latest.commit}), each figure against its previous run; tolerance ${Math.round(tolerance * 100)}%`);
const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows.sort((a, b) => a.name.localeCompare(b.name))) {
  const flag = r.drop ? '  DROP' : '';
  const net = r.net === undefined ? ''.padEnd(12) : `  net ×${r.net.toFixed(3)}`;
  console.log(`${r.name.padEnd(width)}  ${String(r.now).padStart(12)}  vs ${String(r.before).padStart(12)}  ×${r.ratio.toFixed(3)}${net}  (${r.beforeCommit}, ${r.beforeAt.slice(0, 10)})${flag}`);
}
const drops = rows.filter((r) => r.drop);
if (drops.length) console.log(`${drops.length} figure(s) dropped by more than ${Math.round(tolerance * 100)}%: ${drops.map((d) => d.name).join(', ')}`);
process.exit(drops.length ? 1 : 0);
