/**
 * Contract 7, the time boundary: splits a range at the batch watermark W into the part batch
 * answers and the part speed answers, each clipped to what the store covers. Whatever is
 * left over is reported as missing, never filled with zeros.
 */
import { calendarOf, type Coverage } from '../core/views.ts';
import type { SourceChoice, SourceName, SpeedViews, BatchViews, MissingReason } from './types.ts';
import type { ViewReader } from '../core/views.ts';

export interface RangePart {
  source: SourceName;
  reader: ViewReader;
  from: number;
  to: number;
}

export interface RangePlan {
  watermark: number | null;
  batchVersion: string | null;
  batchCoverage: Coverage | null;
  speedCoverage: Coverage | null;
  /** The span each source is responsible for (before clipping to its coverage). */
  batchSpan: [number, number] | null;
  speedSpan: [number, number] | null;
  /** Covered sub-ranges, in time order. */
  parts: RangePart[];
  /** Sub-ranges of [from, min(to, now)) that no part covers. */
  missing: [number, number][];
  /** Parts of batch's span a retention tier let go (core/retention.ts), with the reason. */
  reasons: MissingReason[];
}

export interface PlanInput {
  site: string;
  from: number;
  to: number;
  choice: SourceChoice;
  now: number;
  batch: BatchViews | null;
  speed: SpeedViews;
  /** The site's time zone: its W is its last local midnight within batch's coverage. */
  zone?: string | undefined;
  /**
   * What the answer is cut from (BatchViews.retained): `events` (totals, breakdowns) clips batch's
   * part to the raw events' tier; default `views`, the days still in the version.
   */
  need?: 'events' | 'views';
}

function clip(span: [number, number] | null, cov: Coverage | null): [number, number] | null {
  if (!span || !cov) return null;
  const from = Math.max(span[0], cov.from);
  const to = Math.min(span[1], cov.to);
  return from < to ? [from, to] : null;
}

/** Which source owns [from, to) under the merge rule (or the operator's `source=` choice). */
export function ownerSpans(from: number, to: number, watermark: number | null, choice: SourceChoice): { batch: [number, number] | null; speed: [number, number] | null } {
  if (choice === 'batch') return { batch: [from, to], speed: null };
  if (choice === 'speed') return { batch: null, speed: [from, to] };
  if (watermark === null) return { batch: null, speed: [from, to] };
  const b: [number, number] = [from, Math.min(to, watermark)];
  const s: [number, number] = [Math.max(from, watermark), to];
  return { batch: b[0] < b[1] ? b : null, speed: s[0] < s[1] ? s : null };
}

export async function planRange(input: PlanInput): Promise<RangePlan> {
  const { site, from, to, choice, now, batch, speed } = input;
  const [stored, speedCoverage] = await Promise.all([batch ? batch.coverage(site) : null, speed.coverage(site)]);
  // W is where this site's batch coverage ends: its last local midnight by which every hour of
  // its local days is in the current version (batch keeps UTC days; contract 9).
  const batchCoverage = stored && calendarOf({ zone: input.zone }).wholeDays(stored);
  const watermark = batchCoverage ? batchCoverage.to : null;
  const owners = ownerSpans(from, to, watermark, choice);
  const parts: RangePart[] = [];
  let b = batch ? clip(owners.batch, batchCoverage) : null;
  // A retention tier's cut: batch's span before it is missing with the tier's reason, not zero.
  const held = batch?.retained?.(input.need ?? 'views') ?? null;
  const reasons: MissingReason[] = [];
  if (held && owners.batch && owners.batch[0] < held.from) {
    reasons.push({ from: owners.batch[0], to: Math.min(owners.batch[1], held.from, now), reason: held.reason });
    if (b && b[0] < held.from) b = held.from < b[1] ? [held.from, b[1]] : null;
  }
  if (b && batch) parts.push({ source: 'batch', reader: batch, from: b[0], to: b[1] });
  const s = clip(owners.speed, speedCoverage);
  if (s) parts.push({ source: 'speed', reader: plannedWith(speed, speedCoverage!), from: s[0], to: s[1] });
  return {
    watermark,
    batchVersion: batch?.version ?? null,
    batchCoverage,
    speedCoverage,
    batchSpan: owners.batch,
    speedSpan: owners.speed,
    parts,
    missing: uncovered(from, Math.min(to, now), parts),
    reasons: reasons.filter((r) => r.from < r.to),
  };
}

/**
 * A reader whose queries carry the coverage the plan read (RangeQuery.coverage): the store does
 * not read it a second time for the same request (a Redis round trip on every cold speed query),
 * and its part is cut from the very coverage it was planned with.
 */
function plannedWith(reader: ViewReader, coverage: Coverage): ViewReader {
  return {
    source: reader.source,
    exact: reader.exact,
    coverage: async () => coverage,
    series: (q) => reader.series({ ...q, coverage }),
    totals: (q) => reader.totals({ ...q, coverage }),
    breakdown: (q) => reader.breakdown({ ...q, coverage }),
  };
}

/** Gaps of [from, to) not covered by the (time-ordered, disjoint) parts. */
export function uncovered(from: number, to: number, parts: readonly { from: number; to: number }[]): [number, number][] {
  const gaps: [number, number][] = [];
  let cursor = from;
  for (const p of parts) {
    if (p.from > cursor) gaps.push([cursor, Math.min(p.from, to)]);
    cursor = Math.max(cursor, p.to);
    if (cursor >= to) break;
  }
  if (cursor < to) gaps.push([cursor, to]);
  return gaps.filter(([a, z]) => a < z);
}
