/**
 * A site's batch views over a range as a zip of CSV files, one per breakdown (like Plausible's
 * export): `visitors.csv` (the day series of every metric), then `pages.csv`, `sources.csv`
 * (referrers), `utm_sources.csv`, `utm_mediums.csv`, `utm_campaigns.csv`, `utm_terms.csv`,
 * `utm_contents.csv`, `channels.csv`, `entry_pages.csv` and `exit_pages.csv` (each visit's first and
 * last page), `countries.csv`, `devices.csv`, `browsers.csv`, `operating_systems.csv` (visitors and
 * page views per value) and `custom_events.csv` (events per name). The zip is written to a stream as its entries are made (yazl), nothing held whole.
 * Numbers are the batch views' (exact); a bucket the batch has not computed is left empty.
 */
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { METRICS, type Dimension, type ViewReader } from '../core/views.ts';

export interface ViewsExportRequest {
  site: string;
  from: number;
  to: number;
  /** The site's reporting currency (revenue is never summed across currencies). */
  currency?: string;
  zone?: string;
}

const BREAKDOWNS: { file: string; dimension: Dimension; visitPage?: 'entry' | 'exit'; metrics: ('visitors' | 'pageviews' | 'events')[] }[] = [
  { file: 'pages.csv', dimension: 'page', metrics: ['visitors', 'pageviews'] },
  { file: 'sources.csv', dimension: 'referrer', metrics: ['visitors', 'pageviews'] },
  { file: 'utm_sources.csv', dimension: 'utm_source', metrics: ['visitors', 'pageviews'] },
  { file: 'utm_mediums.csv', dimension: 'utm_medium', metrics: ['visitors', 'pageviews'] },
  { file: 'utm_campaigns.csv', dimension: 'utm_campaign', metrics: ['visitors', 'pageviews'] },
  { file: 'utm_terms.csv', dimension: 'utm_term', metrics: ['visitors', 'pageviews'] },
  { file: 'utm_contents.csv', dimension: 'utm_content', metrics: ['visitors', 'pageviews'] },
  { file: 'channels.csv', dimension: 'channel', metrics: ['visitors', 'pageviews'] },
  { file: 'entry_pages.csv', dimension: 'page', visitPage: 'entry', metrics: ['visitors', 'pageviews'] },
  { file: 'exit_pages.csv', dimension: 'page', visitPage: 'exit', metrics: ['visitors', 'pageviews'] },
  { file: 'countries.csv', dimension: 'country', metrics: ['visitors', 'pageviews'] },
  { file: 'devices.csv', dimension: 'device', metrics: ['visitors', 'pageviews'] },
  { file: 'browsers.csv', dimension: 'browser', metrics: ['visitors', 'pageviews'] },
  { file: 'operating_systems.csv', dimension: 'os', metrics: ['visitors', 'pageviews'] },
  { file: 'custom_events.csv', dimension: 'event_name', metrics: ['visitors', 'events'] },
];

/** Rows per breakdown file: the long tail beyond it is left out (the raw export has everything). */
const BREAKDOWN_LIMIT = 10_000;

function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csv(header: string[], rows: (string | number | undefined)[][]): Buffer {
  return Buffer.from([header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n', 'utf8');
}

/** Writes the zip to `out`; resolves once it is flushed. */
export async function exportViews(reader: ViewReader, req: ViewsExportRequest, out: Writable): Promise<{ files: string[] }> {
  const zip = new yazl.ZipFile();
  const piped = pipeline(zip.outputStream, new PassThrough(), out);
  const range = { site: req.site, from: req.from, to: req.to, ...(req.currency ? { currency: req.currency } : {}), ...(req.zone ? { zone: req.zone } : {}) };
  const names: string[] = [];
  try {
    const series = await reader.series({ ...range, grain: 'day', metrics: [...METRICS] });
    zip.addBuffer(csv(['date', ...METRICS], series.map((p) => [new Date(p.start).toISOString().slice(0, 10), ...METRICS.map((m) => p.values[m])])), 'visitors.csv');
    names.push('visitors.csv');
    for (const b of BREAKDOWNS) {
      const columns = new Map<string, Record<string, number>>();
      for (const metric of b.metrics) {
        for (const row of await reader.breakdown({ ...range, dimension: b.dimension, ...(b.visitPage ? { visitPage: b.visitPage } : {}), metric, limit: BREAKDOWN_LIMIT })) {
          const entry = columns.get(row.value) ?? {};
          entry[metric] = row.count;
          columns.set(row.value, entry);
        }
      }
      const rows = [...columns].map(([value, v]) => [value, ...b.metrics.map((m) => v[m] ?? 0)]);
      zip.addBuffer(csv(['name', ...b.metrics], rows), b.file);
      names.push(b.file);
    }
  } finally {
    zip.end();
  }
  await piped;
  return { files: names };
}
