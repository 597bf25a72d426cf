/**
 * Benchmark figures: the `bench: <name> = <number>` lines, their medians over rounds, the history
 * every `make bench` run appends to (bench/history.jsonl), and the comparison of a run with the one
 * before it (`make bench-compare`).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

const LINE = /^bench: ([A-Za-z0-9_]+) = (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/;

/** A figure line's name and value, or undefined for any other line. */
export function parseFigure(line: string): { name: string; value: number } | undefined {
  const m = LINE.exec(line);
  return m ? { name: m[1]!, value: Number(m[2]) } : undefined;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  // toPrecision: a median of two without float noise (31.200000000000003).
  return s.length % 2 ? s[mid]! : Number(((s[mid - 1]! + s[mid]!) / 2).toPrecision(12));
}

/** The value at quantile q of sorted values (nearest rank: the p99 of 100 values is the 99th); NaN for none. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

/** Each figure's median, min and max over the rounds that printed it. */
export function summarize(rounds: readonly Map<string, number>[]): Map<string, Summary> {
  const all = new Map<string, number[]>();
  for (const r of rounds) for (const [name, v] of r) (all.get(name) ?? all.set(name, []).get(name)!).push(v);
  return new Map([...all].map(([name, vs]) => [name, { median: median(vs), min: Math.min(...vs), max: Math.max(...vs), rounds: vs.length }]));
}

/** One `make bench` run in the history. */
export interface HistoryEntry {
  at: string;
  commit: string;
  groups: string[];
  rounds: number;
  figures: Record<string, Summary>;
}

export function appendHistory(file: string, entry: HistoryEntry): void {
  appendFileSync(file, JSON.stringify(entry) + '\n');
}

export function readHistory(file: string): HistoryEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as HistoryEntry);
}

/** Figures where a smaller number is better: times, memory, CPU per event, error. */
export function lowerIsBetter(name: string): boolean {
  return /(_ms|_mb|_us_per_event|_pct|_bytes|_seconds|_faults|_faults_per_event)$/.test(name) || (/_s$/.test(name) && !/_per_s$/.test(name));
}

/** The figure of bench/machine.ts: how long the machine took for a fixed piece of work. */
export const MACHINE_FIGURE = 'machine_ms';

/**
 * Figures that follow the machine's speed (times, rates, CPU per event), not memory, sizes,
 * counts, error or a rate the bench sets (`_paced_`): bench-compare takes the machine's change out
 * of these.
 */
export function machineScaled(name: string): boolean {
  return name !== MACHINE_FIGURE && !/_paced_/.test(name) && /(_ms|_s|_seconds|_per_s|_rps|_us_per_event)$/.test(name);
}

export interface Comparison {
  name: string;
  now: number;
  before: number;
  /** now / before. */
  ratio: number;
  /**
   * The ratio with the machine's change taken out, where both runs measured the machine and the
   * figure follows its speed: a run on a machine 1.5× slower that took 1.5× longer is ×1.
   */
  net?: number;
  /** Worse than before by more than the tolerance (the net ratio where there is one). */
  drop: boolean;
  beforeAt: string;
  beforeCommit: string;
}

/**
 * Each figure of the latest run against its value in the latest earlier run that has it; a drop
 * is a change for the worse beyond `tolerance` (0.15: 15%), judged on the net ratio where both
 * runs measured the machine (MACHINE_FIGURE).
 */
export function compareLatest(history: readonly HistoryEntry[], tolerance = 0.15): Comparison[] {
  const latest = history.at(-1);
  if (!latest) return [];
  const out: Comparison[] = [];
  const nowMachine = latest.figures[MACHINE_FIGURE]?.median;
  for (const [name, s] of Object.entries(latest.figures)) {
    const prev = [...history.slice(0, -1)].reverse().find((h) => h.figures[name] !== undefined);
    if (!prev) continue;
    const before = prev.figures[name]!.median;
    const ratio = before === 0 ? (s.median === 0 ? 1 : Infinity) : s.median / before;
    const beforeMachine = prev.figures[MACHINE_FIGURE]?.median;
    // Slower machine (slowdown > 1): times and CPU grow with it, rates shrink with it.
    const slowdown = machineScaled(name) && nowMachine && beforeMachine ? nowMachine / beforeMachine : undefined;
    const net = slowdown === undefined ? undefined : lowerIsBetter(name) ? ratio / slowdown : ratio * slowdown;
    const judged = net ?? ratio;
    // The machine's own figure is shown, never a drop: it is what the others are judged net of.
    const worse = name !== MACHINE_FIGURE && (lowerIsBetter(name) ? judged > 1 + tolerance : judged < 1 - tolerance);
    out.push({ name, now: s.median, before, ratio, ...(net === undefined ? {} : { net }), drop: worse, beforeAt: prev.at, beforeCommit: prev.commit });
  }
  return out;
}
