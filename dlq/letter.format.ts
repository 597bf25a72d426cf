/** Plain-text rendering of dead letters for the CLI (tables, hex dump, summaries). */
import type { ReplaySummary } from './dead-letter.replayer.ts';
import { DEAD_LETTER_CODES, type LetterStats, type StoredDeadLetter } from './types.ts';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** 16 bytes a line: offset, hex, printable ASCII. */
export function hexDump(buf: Buffer, max = 4096): string {
  const lines: string[] = [];
  const shown = buf.subarray(0, max);
  for (let off = 0; off < shown.length; off += 16) {
    const row = shown.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (buf.length > max) lines.push(`… ${buf.length - max} more bytes`);
  return lines.join('\n');
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

export function formatList(letters: StoredDeadLetter[], total: number): string {
  if (letters.length === 0) return 'no dead letters match';
  const rows = letters.map((l) => [l.id, iso(l.firstSeen), l.stage, l.code, l.field ?? '', l.siteId ?? '', l.status, String(l.attempts), clip(l.message.replace(/\s+/g, ' '), 60)]);
  const more = total > letters.length ? `\n(${letters.length} of ${total} shown; use --limit / --offset)` : `\n(${total} dead letter${total === 1 ? '' : 's'})`;
  return table(['ID', 'FIRST SEEN', 'STAGE', 'CODE', 'FIELD', 'SITE', 'STATUS', 'ATTEMPTS', 'MESSAGE'], rows) + more;
}

export function formatLetter(l: StoredDeadLetter): string {
  const kv: [string, string | undefined][] = [
    ['id', l.id],
    ['stage', l.stage],
    ['code', `${l.code} (${DEAD_LETTER_CODES[l.code] ?? 'unknown code'})`],
    ['field', l.field],
    ['message', l.message],
    ['site', l.siteId],
    ['first seen', iso(l.firstSeen)],
    ['status', l.status],
    ['seen by', l.seenBy.length ? l.seenBy.join(', ') : undefined],
    ['attempts', String(l.attempts)],
    ['last attempt', l.lastAttemptAt === undefined ? undefined : `${iso(l.lastAttemptAt)}${l.lastCode ? ` ${l.lastCode}: ${l.lastMessage ?? ''}` : ''}`],
    ['source', l.source ? `${l.source.topic} partition ${l.source.partition} offset ${l.source.offset}` : undefined],
    ['dlq position', `partition ${l.dlqPartition} offset ${l.dlqOffset}`],
    ['payload', `${l.payload.length} bytes, ${l.payloadFormat}`],
    ['redacted', l.redacted],
  ];
  const meta = kv.filter(([, v]) => v !== undefined).map(([k, v]) => `${k.padEnd(13)} ${v}`);
  return [...meta, '', '--- payload as text (UTF-8) ---', l.payload.toString('utf8'), '', '--- payload as hex ---', hexDump(l.payload)].join('\n');
}

export function formatStats(rows: LetterStats[], bucket: string): string {
  if (rows.length === 0) return 'no dead letters match';
  const byKey = (key: (r: LetterStats) => string) => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + r.count);
    return [...m.entries()].sort((a, b) => b[1] - a[1]);
  };
  const total = rows.reduce((s, r) => s + r.count, 0);
  const over = table(
    [bucket.toUpperCase(), 'STAGE', 'CODE', 'STATUS', 'COUNT'],
    rows.map((r) => [iso(r.bucket), r.stage, r.code, r.status, String(r.count)]),
  );
  const stageCode = table(['STAGE / CODE', 'COUNT'], byKey((r) => `${r.stage} / ${r.code}`).map(([k, n]) => [k, String(n)]));
  const status = byKey((r) => r.status).map(([k, n]) => `${k} ${n}`).join(', ');
  return `${total} dead letters (${status})\n\n${stageCode}\n\nover time, per ${bucket}:\n${over}`;
}

export function formatSummary(s: ReplaySummary): string {
  const lines: string[] = [];
  const failures = s.verdicts.filter((v) => v.verdict === 'fail');
  const passes = s.verdicts.filter((v) => v.verdict === 'pass');
  const skips = s.verdicts.filter((v) => v.verdict === 'skip');
  if (s.dryRun) {
    lines.push('dry run: nothing was sent or changed');
    for (const v of passes) lines.push(`  would pass  ${v.id}  (${v.events} event${v.events === 1 ? '' : 's'})`);
  }
  for (const v of failures) lines.push(`  ${s.dryRun ? 'would fail ' : 'failed again'}  ${v.id}  ${v.code}${v.field ? ` at ${v.field}` : ''}: ${v.message}`);
  for (const v of skips) lines.push(`  skipped     ${v.id}  ${v.message}`);
  const verb = s.dryRun ? 'would be replayed' : 'replayed';
  lines.push(`${s.selected} selected: ${s.replayed} ${verb} (${s.events} events), ${s.failedAgain} ${s.dryRun ? 'would fail again' : 'failed again'}, ${s.skipped} skipped`);
  if (s.landed) lines.push(`  ${s.landed.events} event(s) of imports landed in the lake as imported history (${s.landed.files} file(s)); days dirty: ${s.landed.days.join(', ')} (twinlane batch run --dirty)`);
  return lines.join('\n');
}
