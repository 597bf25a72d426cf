/**
 * The views export's zip read back entry by entry (its central directory, each entry inflated):
 * every file is there, and the channel, UTM medium, entry-page and exit-page CSVs hold exactly the
 * truth's rows (visitors and page views per value), from a store answering over the raw events.
 */
import { PassThrough } from 'node:stream';
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MemoryViewReader } from '../serving/index.ts';
import { truthBreakdown, truthVisitPages } from '../testing/truth.ts';
import { generateTraffic } from '../traffic/index.ts';
import type { Dimension } from '../core/views.ts';
import { exportViews } from './views.exporter.ts';

const FROM = Date.UTC(2026, 4, 1);
const TO = FROM + 2 * 86_400_000;
const events = [...generateTraffic({ seed: 77, sites: ['shop'], from: FROM, to: TO, events: 3_000, visitorsPerSite: 200 })];

/** name → text of each entry of a zip (stored or deflated), from its central directory. */
function unzip(zip: Buffer): Map<string, string> {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(end, 'end of central directory').toBeGreaterThanOrEqual(0);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const out = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at), 'central directory entry').toBe(0x02014b50);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30);
    const comment = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const body = zip.subarray(data, data + size);
    out.set(name, (method === 8 ? inflateRawSync(body) : body).toString('utf8'));
    at += 46 + nameLength + extra + comment;
  }
  return out;
}

/** A CSV of `name,visitors,pageviews` as value → [visitors, pageviews] (quoted fields unquoted). */
function rows(text: string): Map<string, [number, number]> {
  const lines = text.trim().split('\n');
  expect(lines[0]).toBe('name,visitors,pageviews');
  return new Map(
    lines.slice(1).map((line) => {
      const m = /^("(?:[^"]|"")*"|[^,]*),(\d+),(\d+)$/.exec(line)!;
      const name = m[1]!.startsWith('"') ? m[1]!.slice(1, -1).replaceAll('""', '"') : m[1]!;
      return [name, [Number(m[2]), Number(m[3])]];
    }),
  );
}

/** The truth's rows of both metrics, value → [visitors, pageviews] (0 where a metric has no row). */
function truthRows(visitors: { value: string; count: number }[], pageviews: { value: string; count: number }[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const r of visitors) out.set(r.value, [r.count, 0]);
  for (const r of pageviews) out.set(r.value, [out.get(r.value)?.[0] ?? 0, r.count]);
  return out;
}

describe('views export', () => {
  it('zips every breakdown; channels, UTM mediums, entry and exit pages equal the truth', async () => {
    const reader = new MemoryViewReader({ source: 'batch', events, coverage: { shop: { from: FROM, to: TO } } });
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const done = await exportViews(reader, { site: 'shop', from: FROM, to: TO }, sink);
    const files = unzip(Buffer.concat(chunks));
    expect([...files.keys()]).toEqual(done.files);
    for (const f of ['visitors.csv', 'pages.csv', 'utm_mediums.csv', 'utm_campaigns.csv', 'utm_terms.csv', 'utm_contents.csv', 'channels.csv', 'entry_pages.csv', 'exit_pages.csv', 'custom_events.csv']) expect(done.files).toContain(f);
    const range = { site: 'shop', from: FROM, to: TO };
    for (const [file, dimension] of [['channels.csv', 'channel'], ['utm_mediums.csv', 'utm_medium']] as [string, Dimension][]) {
      const want = truthRows(truthBreakdown(events, { ...range, dimension, metric: 'visitors' }), truthBreakdown(events, { ...range, dimension, metric: 'pageviews' }));
      expect(want.size, file).toBeGreaterThan(2);
      expect(rows(files.get(file)!), file).toEqual(want);
    }
    for (const which of ['entry', 'exit'] as const) {
      const want = truthRows(truthVisitPages(events, { ...range, which, metric: 'visitors' }), truthVisitPages(events, { ...range, which, metric: 'pageviews' }));
      expect(want.size).toBeGreaterThan(5);
      expect(rows(files.get(`${which}_pages.csv`)!), `${which}_pages.csv`).toEqual(want);
    }
  });
});
