/**
 * Umami in a test's own PostgreSQL database: its v2 schema (the tables an import reads, as
 * Umami's published PostgreSQL migrations make them: 01_init, 02_report_schema_session_data's
 * renamed event_data columns, 05_add_visit_id), seeded generated history, and the database
 * dropped afterwards. The bench fills a million page views with SQL alone.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { rng } from '../../traffic/index.ts';

/** The machine's PostgreSQL (trust auth on 127.0.0.1), overridable for other set-ups. */
export const ADMIN_PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const UMAMI_SCHEMA_SQL = `
CREATE TABLE "session" (
    "session_id" UUID NOT NULL, "website_id" UUID NOT NULL, "hostname" VARCHAR(100), "browser" VARCHAR(20), "os" VARCHAR(20),
    "device" VARCHAR(20), "screen" VARCHAR(11), "language" VARCHAR(35), "country" CHAR(2), "subdivision1" VARCHAR(20),
    "subdivision2" VARCHAR(50), "city" VARCHAR(50), "created_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "session_pkey" PRIMARY KEY ("session_id"));
CREATE TABLE "website" (
    "website_id" UUID NOT NULL, "name" VARCHAR(100) NOT NULL, "domain" VARCHAR(500), "share_id" VARCHAR(50), "reset_at" TIMESTAMPTZ(6),
    "user_id" UUID, "created_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP, "updated_at" TIMESTAMPTZ(6), "deleted_at" TIMESTAMPTZ(6),
    CONSTRAINT "website_pkey" PRIMARY KEY ("website_id"));
CREATE TABLE "website_event" (
    "event_id" UUID NOT NULL, "website_id" UUID NOT NULL, "session_id" UUID NOT NULL, "visit_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP, "url_path" VARCHAR(500) NOT NULL, "url_query" VARCHAR(500),
    "referrer_path" VARCHAR(500), "referrer_query" VARCHAR(500), "referrer_domain" VARCHAR(500), "page_title" VARCHAR(500),
    "event_type" INTEGER NOT NULL DEFAULT 1, "event_name" VARCHAR(50),
    CONSTRAINT "website_event_pkey" PRIMARY KEY ("event_id"));
CREATE TABLE "event_data" (
    "event_data_id" UUID NOT NULL, "website_id" UUID NOT NULL, "website_event_id" UUID NOT NULL, "data_key" VARCHAR(500) NOT NULL,
    "string_value" VARCHAR(500), "number_value" DECIMAL(19,4), "date_value" TIMESTAMPTZ(6), "data_type" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(6) DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "event_data_pkey" PRIMARY KEY ("event_data_id"));
CREATE INDEX "session_website_id_idx" ON "session"("website_id");
CREATE INDEX "website_event_created_at_idx" ON "website_event"("created_at");
CREATE INDEX "website_event_session_id_idx" ON "website_event"("session_id");
CREATE INDEX "website_event_website_id_idx" ON "website_event"("website_id");
CREATE INDEX "website_event_website_id_created_at_idx" ON "website_event"("website_id", "created_at");
CREATE INDEX "event_data_website_id_idx" ON "event_data"("website_id");
CREATE INDEX "event_data_website_event_id_idx" ON "event_data"("website_event_id");
`;

export interface UmamiDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh database with Umami's tables; `drop()` removes it (register it as a clean-up). */
export async function createUmamiDatabase(prefix = 'tl_umami'): Promise<UmamiDatabase> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(ADMIN_PG_URL, name);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(UMAMI_SCHEMA_SQL);
  } finally {
    await c.end();
  }
  return {
    name,
    url,
    drop: async () => {
      const a = new pg.Client({ connectionString: ADMIN_PG_URL });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

export interface UmamiSessionRow { session_id: string; website_id: string; hostname: string | null; browser: string | null; os: string | null; device: string | null; screen: string | null; language: string | null; country: string | null }
export interface UmamiEventRow { event_id: string; website_id: string; session_id: string; visit_id: string; created_at: number; url_path: string; url_query: string | null; referrer_path: string | null; referrer_query: string | null; referrer_domain: string | null; page_title: string | null; event_type: number; event_name: string | null }
export interface UmamiEventDataRow { event_data_id: string; website_id: string; website_event_id: string; data_key: string; string_value: string | null; number_value: string | null; data_type: number }
export interface UmamiHistory { website: string; otherWebsite: string; sessions: UmamiSessionRow[]; events: UmamiEventRow[]; eventData: UmamiEventDataRow[] }

function uuidFrom(r: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/**
 * History of one website over `days` days before `end` (UTC ms), plus a few events of another
 * website that an import must leave alone. Visits are bursts of events a few minutes apart;
 * some page views carry UTM tags or an e-mail address in the query (redacted on import), some
 * custom events carry event data.
 */
export function generateUmamiHistory(o: { seed: number; sessions: number; days: number; end: number }): UmamiHistory {
  const r = rng(o.seed);
  const website = uuidFrom(r);
  const otherWebsite = uuidFrom(r);
  const sessions: UmamiSessionRow[] = [];
  const events: UmamiEventRow[] = [];
  const eventData: UmamiEventDataRow[] = [];
  const start = o.end - o.days * 86_400_000;
  for (let s = 0; s < o.sessions; s++) {
    const own = s % 20 !== 19;
    const session: UmamiSessionRow = {
      session_id: uuidFrom(r), website_id: own ? website : otherWebsite, hostname: 'umami.example', browser: pick(r, ['chrome', 'firefox', 'safari', 'edge-chromium', 'ios']),
      os: pick(r, ['Windows 10', 'Mac OS', 'iOS', 'Android OS', 'Linux']), device: pick(r, ['desktop', 'laptop', 'mobile', 'tablet']), screen: pick(r, ['1920x1080', '390x844', '1440x900']),
      language: 'en-US', country: pick(r, ['DE', 'US', 'FR', 'GB', null]),
    };
    sessions.push(session);
    for (let v = 0, visits = 1 + Math.floor(r() * 3); v < visits; v++) {
      const visit = uuidFrom(r);
      let t = start + Math.floor(r() * (o.end - start - 3_600_000));
      const referrer = pick(r, ['google.com', 'news.ycombinator.com', null, null]);
      for (let e = 0, n = 1 + Math.floor(r() * 6); e < n; e++) {
        const custom = r() < 0.15;
        const query = e === 0 && r() < 0.3 ? pick(r, ['utm_source=newsletter&utm_medium=email', 'utm_source=twitter', 'ref=a&contact=jane.doe@mail.example']) : null;
        const ev: UmamiEventRow = {
          event_id: uuidFrom(r), website_id: session.website_id, session_id: session.session_id, visit_id: visit, created_at: t, url_path: pick(r, ['/', '/pricing', '/blog/launch', '/docs/start', '/about']),
          url_query: query, referrer_path: referrer && e === 0 ? '/search' : null, referrer_query: null, referrer_domain: e === 0 ? referrer : null, page_title: custom ? null : 'Umami example',
          event_type: custom ? 2 : 1, event_name: custom ? pick(r, ['signup', 'download']) : null,
        };
        events.push(ev);
        if (custom && r() < 0.5) eventData.push({ event_data_id: uuidFrom(r), website_id: ev.website_id, website_event_id: ev.event_id, data_key: 'plan', string_value: pick(r, ['free', 'pro']), number_value: null, data_type: 1 });
        t += 30_000 + Math.floor(r() * 300_000);
      }
    }
  }
  return { website, otherWebsite, sessions, events, eventData };
}

/** PostgreSQL's COPY text field. */
function field(v: string | number | null): string {
  if (v === null) return '\\N';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

async function copyRows(c: pg.Client, table: string, columns: string[], rows: (string | number | null)[][]): Promise<void> {
  const lines = rows.map((row) => `${row.map(field).join('\t')}\n`);
  await pipeline(Readable.from(lines), c.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`)));
}

/** Loads a generated history (COPY FROM STDIN, so a few thousand rows take milliseconds). */
export async function loadUmamiHistory(url: string, h: UmamiHistory): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`INSERT INTO website (website_id, name, domain) VALUES ($1, 'example', 'umami.example'), ($2, 'other', 'other.example')`, [h.website, h.otherWebsite]);
    await copyRows(c, 'session', ['session_id', 'website_id', 'hostname', 'browser', 'os', 'device', 'screen', 'language', 'country'], h.sessions.map((s) => [s.session_id, s.website_id, s.hostname, s.browser, s.os, s.device, s.screen, s.language, s.country]));
    const iso = (t: number) => new Date(t).toISOString();
    await copyRows(c, 'website_event', ['event_id', 'website_id', 'session_id', 'visit_id', 'created_at', 'url_path', 'url_query', 'referrer_path', 'referrer_query', 'referrer_domain', 'page_title', 'event_type', 'event_name'],
      h.events.map((e) => [e.event_id, e.website_id, e.session_id, e.visit_id, iso(e.created_at), e.url_path, e.url_query, e.referrer_path, e.referrer_query, e.referrer_domain, e.page_title, e.event_type, e.event_name]));
    await copyRows(c, 'event_data', ['event_data_id', 'website_id', 'website_event_id', 'data_key', 'string_value', 'number_value', 'data_type'], h.eventData.map((d) => [d.event_data_id, d.website_id, d.website_event_id, d.data_key, d.string_value, d.number_value, d.data_type]));
  } finally {
    await c.end();
  }
}

/**
 * `n` page views of one website in 30 days before `end`, by SQL alone (the bench's million):
 * 8 events per session, 2,000 paths, UTM tags on one in ten.
 */
export async function fillUmamiBySql(url: string, website: string, n: number, end: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`INSERT INTO website (website_id, name, domain) VALUES ($1, 'bench', 'bench.example')`, [website]);
    await c.query(
      `INSERT INTO session (session_id, website_id, hostname, browser, os, device, screen, language, country)
       SELECT md5('s' || i)::uuid, $1, 'bench.example', (ARRAY['chrome','firefox','safari','ios'])[1 + i % 4], (ARRAY['Windows 10','Mac OS','iOS','Android OS'])[1 + i % 4],
              (ARRAY['desktop','laptop','mobile','tablet'])[1 + i % 4], '1920x1080', 'en-US', (ARRAY['DE','US','FR','GB'])[1 + i % 4]
       FROM generate_series(0, $2::int / 8) i`,
      [website, n],
    );
    await c.query(
      `INSERT INTO website_event (event_id, website_id, session_id, visit_id, created_at, url_path, url_query, referrer_domain, page_title, event_type)
       SELECT md5('e' || i)::uuid, $1, md5('s' || (i / 8))::uuid, md5('v' || (i / 8))::uuid,
              to_timestamp($3::bigint / 1000.0) - interval '30 days' + (i::double precision / $2::int) * interval '30 days' + (i % 8) * interval '1 minute',
              '/page/' || (i % 2000), CASE WHEN i % 10 = 0 THEN 'utm_source=newsletter' END, CASE WHEN i % 3 = 0 THEN 'google.com' END, 'Bench page', 1
       FROM generate_series(0, $2::int - 1) i`,
      [website, n, end],
    );
    // Settled like a live database (hint bits and visibility map set): a freshly loaded table makes
    // its first reader write every page, and autovacuum would start during the import.
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
  }
}
