/**
 * `bench: machine_ms`: how long this machine takes for a fixed piece of work, so that a run of
 * `make bench` can be compared with one made on a faster or slower machine (bench-compare divides
 * it out of times, rates and CPU per event). The machines this project is measured on differ by
 * 1.4–2× at the same code (batch/README.md, speed/README.md), more than the 15% a drop is flagged
 * at. The work is single-threaded and mixes what the pipeline spends its CPU on: maps keyed by
 * strings (the consumers' folding), a numeric sort (the batch's sorts and hashes) and fresh memory
 * (page faults, dear on these virtual machines). It does not see the other tenants' load during
 * the groups' own runs: `make bench` measures it before and after them.
 */
import { createHash } from 'node:crypto';

const REPS = 5;

/** The fixed work; returns a checksum so that none of it can be optimised away. */
export function machineWork(): number {
  let x = 1;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const counts = new Map<string, number>();
  for (let i = 0; i < 300_000; i++) {
    const key = `v${next() % 50_000}|${next() % 40}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const numbers = new Float64Array(1_000_000);
  for (let i = 0; i < numbers.length; i++) numbers[i] = next();
  numbers.sort();
  let sum = counts.size + numbers[numbers.length >> 1]!;
  for (let i = 0; i < 4; i++) {
    const fresh = Buffer.alloc(32 * 1024 * 1024, i + 1);
    sum += createHash('sha256').update(fresh.subarray(0, 4 * 1024 * 1024)).digest()[0]!;
  }
  return sum;
}

/** The median of REPS timed runs of machineWork, after one untimed. */
export function machineMs(): number {
  machineWork();
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    machineWork();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[REPS >> 1]!);
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(`bench: machine_ms = ${machineMs()}`);
