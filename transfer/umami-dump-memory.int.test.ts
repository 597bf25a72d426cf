/**
 * A pg_dump import's memory does not grow with the dump. Reproduced first with a dump of 200,000
 * sessions and 100,000 event_data rows read by a process whose JS heap is capped at 64 MB: the
 * source held every session and property in Maps and died out of memory before its first event.
 * Now they wait in DuckDB tables on disk and are joined a batch of events at a time, so the same
 * process streams every event, each with its own session's fields and properties (the truth
 * computed here from the generated rows), in the dump's order; a resume starts at its row.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { UmamiDumpSource } from './index.ts';

const WEBSITE = '11111111-2222-4333-8444-555555555555';
const OTHER = '99999999-2222-4333-8444-555555555555';
const SESSIONS = 200_000;
const ORPHAN_PROPS = 100_000;
const EVENTS = 2_000;
const DAY0 = Date.UTC(2025, 0, 1);

const uuid = (kind: number, i: number) => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
const BROWSERS = [['chrome', 'Chrome'], ['firefox', 'Firefox'], ['safari', 'Safari']] as const;
const OSES = [['Mac OS', 'macOS'], ['Windows 10', 'Windows'], ['Linux', 'Linux']] as const;
const DEVICES = [['laptop', 'desktop'], ['mobile', 'mobile'], ['tablet', 'tablet']] as const;
const COUNTRIES = ['DE', 'FR', 'US', 'JP', 'BR'];

interface Expected {
  row: number;
  visitor: string;
  browser: string;
  os: string;
  device: string;
  country: string;
  width: number;
  properties?: Record<string, string>;
}

const pgTime = (t: number) => new Date(t).toISOString().replace('T', ' ').replace('Z', '+00');

/** Writes the dump (sessions, then events, then event data, then the website row) and returns the truth per event id. */
async function writeDump(path: string): Promise<Map<string, Expected>> {
  const out = createWriteStream(path);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  const session = (i: number, website: string, variant = 0) =>
    `${uuid(1, i)}\t${website}\tshop.example\t${BROWSERS[(i + variant) % 3]![0]}\t${OSES[i % 3]![0]}\t${DEVICES[i % 3]![0]}\t${1000 + (i % 900)}x800\ten-US\t${COUNTRIES[i % 5]}\t\\N\t\\N\t\\N\t${pgTime(DAY0)}\n`;
  await write('--\n-- PostgreSQL database dump\n--\n\nCOPY public.session (session_id, website_id, hostname, browser, os, device, screen, language, country, subdivision1, subdivision2, city, created_at) FROM stdin;\n');
  let buf = '';
  for (let i = 0; i < SESSIONS; i++) {
    buf += session(i, WEBSITE);
    if (buf.length > 1 << 16) await write(buf), (buf = '');
  }
  // Another website's sessions, and a second row of session 7 (the last one counts, as in a Map).
  buf += session(SESSIONS, OTHER) + session(7, WEBSITE, 1);
  await write(`${buf}\\.\n\n`);

  const truth = new Map<string, Expected>();
  await write('COPY public.website_event (event_id, website_id, session_id, visit_id, created_at, url_path, url_query, referrer_path, referrer_query, referrer_domain, page_title, event_type, event_name) FROM stdin;\n');
  buf = '';
  for (let i = 0; i < EVENTS; i++) {
    const s = i === 0 ? 7 : (i * 7919) % SESSIONS;
    const id = uuid(2, i);
    buf += `${id}\t${WEBSITE}\t${uuid(1, s)}\t${uuid(3, i)}\t${pgTime(DAY0 + i * 60_000)}\t/p${i % 17}\t\\N\t\\N\t\\N\t\\N\tPage\t${i % 4 === 0 ? 2 : 1}\t${i % 4 === 0 ? 'signup' : '\\N'}\n`;
    const browser = BROWSERS[(s + (s === 7 ? 1 : 0)) % 3]![1];
    truth.set(id, { row: i + 1, visitor: uuid(1, s), browser, os: OSES[s % 3]![1], device: DEVICES[s % 3]![1], country: COUNTRIES[s % 5]!, width: 1000 + (s % 900), ...(i % 4 === 0 ? { properties: { plan: `pro-${i}`, seats: String(i % 9) } } : {}) });
    if (i === 5) buf += `${uuid(2, 999_999)}\t${OTHER}\t${uuid(1, SESSIONS)}\t${uuid(3, 999_999)}\t${pgTime(DAY0)}\t/x\t\\N\t\\N\t\\N\t\\N\tPage\t1\t\\N\n`;
  }
  await write(`${buf}\\.\n\n`);

  await write('COPY public.event_data (event_data_id, website_id, website_event_id, data_key, string_value, number_value, date_value, data_type, created_at) FROM stdin;\n');
  buf = '';
  for (let i = 0; i < ORPHAN_PROPS; i++) {
    buf += `${uuid(4, i)}\t${WEBSITE}\t${uuid(5, i)}\tplan\tgone-${i}\t\\N\t\\N\t1\t${pgTime(DAY0)}\n`;
    if (buf.length > 1 << 16) await write(buf), (buf = '');
  }
  for (let i = 0; i < EVENTS; i += 4) buf += `${uuid(6, i)}\t${WEBSITE}\t${uuid(2, i)}\tplan\tpro-${i}\t\\N\t\\N\t1\t${pgTime(DAY0)}\n${uuid(7, i)}\t${WEBSITE}\t${uuid(2, i)}\tseats\t\\N\t${i % 9}\t\\N\t2\t${pgTime(DAY0)}\n`;
  await write(`${buf}\\.\n\n`);
  await write(`COPY public.website (website_id, name, domain, share_id, reset_at, user_id, created_at, updated_at, deleted_at) FROM stdin;\n${WEBSITE}\tShop\tshop.example\t\\N\t\\N\t\\N\t${pgTime(DAY0)}\t\\N\t\\N\n\\.\n`);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return truth;
}

function expectRecord(record: Record<string, unknown>, want: Expected, id: string): void {
  expect(record, id).toMatchObject({ event_id: id, visitor_id: want.visitor, browser: want.browser, os: want.os, device_type: want.device, country: want.country, screen_width: want.width });
  expect(record.properties, id).toEqual(want.properties);
}

describe('pg_dump import memory', () => {
  afterAll(runCleanups);

  it('streams every event with its session and properties from a process whose heap is capped below the dump’s sessions', async () => {
    const dir = tempDir('umami-dump-memory');
    const dump = join(dir, 'umami.sql');
    const truth = await writeDump(dump);
    const script = join(dir, 'read.mts');
    const source = fileURLToPath(new URL('./umami.dump.source.ts', import.meta.url));
    writeFileSync(
      script,
      `import { UmamiDumpSource } from ${JSON.stringify(source)};
const src = new UmamiDumpSource(process.argv[2], process.argv[3], 'shop', { workDir: process.argv[4] });
const lines = [];
for await (const r of src.rows({ rows: 0 }, null)) lines.push(JSON.stringify({ row: r.row, record: r.record }));
await src.close();
process.stdout.write(lines.join('\\n') + '\\n');
`,
    );
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', script, dump, WEBSITE, dir], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { row: number; record: Record<string, unknown> });
    expect(got.length).toBe(truth.size);
    const byId = new Map(got.map((g) => [g.record.event_id as string, g]));
    for (const [id, want] of truth) {
      const g = byId.get(id);
      expect(g, id).toBeDefined();
      expect(g!.row).toBe(want.row);
      expectRecord(g!.record, want, id);
    }

    // A resume at row 1,990 reads the last ten, with their own sessions.
    const resumed: { row: number; record: Record<string, unknown> }[] = [];
    const src = new UmamiDumpSource(dump, WEBSITE, 'shop', { workDir: dir });
    for await (const x of src.rows({ rows: EVENTS - 10 })) resumed.push({ row: x.row, record: x.record as Record<string, unknown> });
    await src.close();
    expect(resumed.map((x) => x.row)).toEqual(Array.from({ length: 10 }, (_, i) => EVENTS - 9 + i));
    for (const x of resumed) expectRecord(x.record, truth.get(x.record.event_id as string)!, String(x.record.event_id));
  }, 180_000);
});
