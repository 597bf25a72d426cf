/** Text views of ledger runs for `twinlane jobs`. */
import type { DriftReport, JobRun } from './types.ts';

function iso(t: number | undefined): string {
  return t === undefined ? '-' : new Date(t).toISOString().replace('T', ' ').slice(0, 19);
}

export function formatDurationS(run: JobRun): string {
  if (run.endedAt === undefined) return '-';
  const s = (run.endedAt - run.startedAt) / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

function daysSummary(days: string[]): string {
  if (days.length === 0) return '-';
  if (days.length <= 2) return days.join(',');
  return `${days[0]}..${days[days.length - 1]} (${days.length})`;
}

export function formatRunTable(runs: readonly JobRun[]): string {
  const header = ['ID', 'JOB', 'TRIGGER', 'STATUS', 'STARTED (UTC)', 'TOOK', 'TRIES', 'DAYS', 'ROWS', 'ERROR'];
  const rows = runs.map((r) => [r.id.slice(0, 8), r.job, r.trigger, r.status, iso(r.startedAt), formatDurationS(r), String(r.attempts), daysSummary(r.days), String(r.rows), (r.error ?? '').slice(0, 60)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function formatDrift(report: DriftReport): string[] {
  const lines = [`drift ${iso(report.from)} .. ${iso(report.to)} over ${report.sites} site(s)`, '  metric        buckets   mean rel. err   max rel. err   speed total   batch total'];
  for (const m of report.metrics) {
    lines.push(
      `  ${m.metric.padEnd(12)}  ${String(m.buckets).padStart(7)}   ${(m.meanRelativeError * 100).toFixed(3).padStart(12)}%   ${(m.maxRelativeError * 100).toFixed(2).padStart(11)}%   ${String(m.speedTotal).padStart(11)}   ${String(m.batchTotal).padStart(11)}`,
    );
  }
  return lines;
}

export function formatRun(run: JobRun): string {
  const lines = [
    `run       ${run.id}`,
    `job       ${run.job} (${run.trigger}${run.scheduledFor === undefined ? '' : `, slot ${iso(run.scheduledFor)}`})`,
    `status    ${run.status}`,
    `started   ${iso(run.startedAt)} UTC on ${run.host} pid ${run.pid}`,
    `ended     ${iso(run.endedAt)}${run.endedAt === undefined ? '' : ` (${formatDurationS(run)})`}`,
    `attempts  ${run.attempts}`,
    `days      ${run.days.length ? run.days.join(', ') : '-'}`,
    `rows      ${run.rows}`,
  ];
  if (run.error) lines.push(`error     [${run.errorCode ?? 'JOB_FAILED'}] ${run.error}`);
  const { drift, ...rest } = run.details as { drift?: DriftReport };
  if (Object.keys(rest).length) lines.push(`details   ${JSON.stringify(rest)}`);
  if (drift) lines.push(...formatDrift(drift));
  return lines.join('\n');
}
