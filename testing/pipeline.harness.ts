/**
 * The whole pipeline for end-to-end tests, isolated on the shared stack: UUID-named topics and
 * consumer groups, its own Redis key prefix, a temporary DATA_DIR, free ports. The collector,
 * speed consumer, lake archiver, dlq archiver and serving API run as child processes of their
 * real entry points (so a test can SIGKILL them); batch runs go through the scheduler's runner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, type ConfigValues } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { loadSites, plainKeys } from '../core/sites.ts';
import type { Metric } from '../core/views.ts';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { runLoad, type LoadOptions, type LoadSummary } from '../traffic/index.ts';
import { freePort, isAlive, sleep } from '../core/processes.ts';
import { createTopic, kafkaClient, speedKeyPrefix, tempDir, uniqueName, waitUntil } from './helpers.ts';
import { groupLag } from '../orchestration/index.ts';
import type { RunResult } from '../orchestration/index.ts';
import { schedulerOptions } from '../orchestration/index.ts';
import { createScheduler } from '../apps/index.ts';
import { buildJobPorts } from '../apps/index.ts';
import { answersHttp } from '../apps/index.ts';
import type { SeriesRow } from './truth.assert.ts';
import { truthSeries as truthSeriesOf, type TruthSeries } from './truth.ts';
import { entryArgs } from './bundles.ts';

const ROOT = resolve(import.meta.dirname, '..');
const ENTRIES = {
  collector: 'apps/collector.main.ts',
  speed: 'apps/speed.main.ts',
  'lake-archiver': 'apps/lake-archiver.main.ts',
  'dlq-archiver': 'apps/dlq-archiver.main.ts',
  serving: 'apps/serving.main.ts',
} as const;
export type HarnessService = keyof typeof ENTRIES;

export class PipelineHarness {
  readonly children = new Map<HarnessService, ChildProcess>();
  readonly truthFiles: string[] = [];
  private ports!: Record<HarnessService, number>;
  config!: ConfigValues;
  env!: Record<string, string>;
  dir!: string;

  /** `overrides`: settings of this pipeline beyond the harness's own (they win). */
  static async create(overrides: Record<string, string> = {}): Promise<PipelineHarness> {
    const h = new PipelineHarness();
    const base = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
    const topic = await createTopic(base, 'e2e-events', 3);
    const dlq = await createTopic(base, 'e2e-dlq', 1);
    h.dir = tempDir('e2e');
    const entries = Object.keys(ENTRIES) as HarnessService[];
    h.ports = Object.fromEntries(await Promise.all(entries.map(async (e) => [e, await freePort()]))) as Record<HarnessService, number>;
    h.env = {
      LOG_LEVEL: 'warn',
      LOG_PRETTY: 'false',
      DATA_DIR: h.dir,
      EVENTS_TOPIC: topic,
      DLQ_TOPIC: dlq,
      SPEED_GROUP: uniqueName('speed'),
      LAKE_GROUP: uniqueName('lake'),
      SPEED_KEY_PREFIX: speedKeyPrefix(base, 'e2e'),
      LAKE_ROLL_AGE: '1s',
      SPEED_SESSION_TIMEOUT: '6s',
      // Tests batch yesterday straight after sending it: with the default 10 min of lateness a run
      // just after midnight UTC would wait until 00:10 for yesterday (batch/complete-days tests the lateness).
      BATCH_ALLOWED_LATENESS: '5s',
      COLLECTOR_PORT: String(h.ports.collector),
      SPEED_METRICS_PORT: String(h.ports.speed),
      LAKE_METRICS_PORT: String(h.ports['lake-archiver']),
      DLQ_METRICS_PORT: String(h.ports['dlq-archiver']),
      SERVING_PORT: String(h.ports.serving),
      // The ClickHouse warehouse step has tests of its own (clickhouse/*.int.test.ts); here it would share the stack's database.
      WAREHOUSE_ENABLED: 'false',
      // Rate limits on, at limits the tests' traffic (one address, as fast as it goes) never reaches.
      COLLECTOR_RATE_LIMIT_CLIENT: '10000000/1m',
      SERVING_RATE_LIMIT_CLIENT: '10000000/1m',
      ...overrides,
    };
    h.config = loadConfig({ ...process.env, ...h.env });
    return h;
  }

  /** Each service's Prometheus endpoint (the collector and serving answer /metrics on their own port). */
  get metricsUrls(): Record<HarnessService, string> {
    return Object.fromEntries(Object.entries(this.ports).map(([name, port]) => [name, `http://127.0.0.1:${port}/metrics`])) as Record<HarnessService, string>;
  }

  get collectorUrl(): string {
    return `http://127.0.0.1:${this.ports.collector}`;
  }

  /** `timeoutMs`: how long it may take to answer (a restart beside a busy pipeline on two cores takes longer). */
  async start(name: HarnessService, timeoutMs = 60_000): Promise<void> {
    const logs = join(this.dir, 'logs');
    mkdirSync(logs, { recursive: true });
    const out = openSync(join(logs, `${name}.log`), 'a');
    const child = spawn(process.execPath, entryArgs(ENTRIES[name]), { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', out, out] });
    this.children.set(name, child);
    await waitUntil(`${name} to answer on port ${this.ports[name]}`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${this.log(name).slice(-2000)}`);
      return answersHttp(this.ports[name]);
    }, timeoutMs, 200);
  }

  async startAll(): Promise<void> {
    for (const name of Object.keys(ENTRIES) as HarnessService[]) await this.start(name);
  }

  log(name: HarnessService): string {
    try {
      return readFileSync(join(this.dir, 'logs', `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGKILL: no drain, no commit, no goodbye. */
  async kill(name: HarnessService): Promise<void> {
    const child = this.children.get(name);
    if (!child?.pid) return;
    child.kill('SIGKILL');
    while (isAlive(child.pid)) await sleep(20);
    this.children.delete(name);
  }

  /** SIGTERM to `names` (default: every service) and waits for them to exit (SIGKILL after 20 s). */
  async stop(names?: readonly HarnessService[]): Promise<void> {
    await Promise.all(
      [...this.children.entries()].filter(([name]) => names === undefined || names.includes(name)).map(async ([name, c]) => {
        if (c.exitCode !== null || !c.pid) return;
        c.kill('SIGTERM');
        const deadline = Date.now() + 20_000;
        while (isAlive(c.pid) && Date.now() < deadline) await sleep(50);
        if (isAlive(c.pid)) c.kill('SIGKILL');
        this.children.delete(name);
      }),
    );
  }

  sites(): { id: string; writeKey: string; readKey: string }[] {
    return loadSites(this.config.SITES_FILE).list().map((s) => ({ id: s.id, ...plainKeys(s, 'the pipeline harness') }));
  }

  async send(o: Partial<LoadOptions> & Pick<LoadOptions, 'seed' | 'events' | 'from' | 'to'>): Promise<LoadSummary> {
    const truthFile = join(this.dir, `truth-${this.truthFiles.length}.ndjson`);
    this.truthFiles.push(truthFile);
    const summary = await runLoad({
      collectorUrl: `http://127.0.0.1:${this.ports.collector}`,
      sites: this.sites(),
      rate: 0,
      batchSize: 100,
      concurrency: 3,
      malformedFraction: 0,
      attempts: 120,
      truthFile,
      ...o,
    });
    return summary;
  }

  /** Runs a `twinlane` command with this pipeline's configuration; resolves with its standard output. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<string> {
    const child = spawn(process.execPath, [...entryArgs('bin/twinlane.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...this.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`twinlane ${args.join(' ')} exited with ${code}: ${(out + err).slice(-2000)}`);
    return out;
  }

  /**
   * Rejected events whose malformation the repair transform fixes, as the events they become
   * after replay: their own fields, without a user agent (so never a bot).
   */
  repairableRejections(repair: (j: Record<string, unknown>) => Record<string, unknown>, fields: readonly string[]): TwinlaneEvent[] {
    const out: TwinlaneEvent[] = [];
    for (const f of this.truthFiles) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as { kind: string; site_id: string; field: string | null; payload: string };
        if (r.kind !== 'rejected' || !fields.includes(r.field ?? '')) continue;
        const j = repair(JSON.parse(r.payload) as Record<string, unknown>);
        out.push({
          event_id: String(j.id),
          site_id: r.site_id,
          type: j.type as TwinlaneEvent['type'],
          event_time: Number(j.ts),
          visitor_id: String(j.visitor),
          session_id: String(j.session),
          is_bot: false,
          revenue_micros: typeof j.revenue === 'number' ? Math.round(j.revenue * 1_000_000) : null,
          currency: typeof j.currency === 'string' ? j.currency : null,
        } as TwinlaneEvent);
      }
    }
    return out;
  }

  /** Every accepted event of every send, as the truth files recorded them. */
  truth(): TwinlaneEvent[] {
    const out: TwinlaneEvent[] = [];
    for (const f of this.truthFiles) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as { kind: string; event?: TwinlaneEvent };
        if (r.kind === 'accepted' && r.event) out.push(r.event);
      }
    }
    return out;
  }

  async waitCaughtUp(groups: string[] = [this.config.SPEED_GROUP, this.config.LAKE_GROUP], timeoutMs = 90_000): Promise<void> {
    const admin = kafkaClient(this.config).admin();
    await admin.connect();
    try {
      let last = '';
      await waitUntil(`consumer groups to catch up (${groups.join(', ')})`, async () => {
        const lags = await Promise.all(groups.map((g) => groupLag(admin, g, this.config.EVENTS_TOPIC).catch(() => -1)));
        last = lags.join(',');
        return lags.every((l) => l === 0);
      }, timeoutMs, 250).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; lags ${last}`);
      });
    } finally {
      await admin.disconnect();
    }
  }

  /** One batch run (with drift and speed retire) through the scheduler's runner, as `jobs run batch` does. */
  async runBatch(): Promise<RunResult> {
    const ports = await buildJobPorts(this.config, silentLogger());
    try {
      const options = schedulerOptions(this.config, { lockPrefix: `${this.env.SPEED_KEY_PREFIX}:orch:`, retry: { attempts: 2, initialDelayMs: 500, maxDelayMs: 1_000 } });
      const { scheduler, ledger } = createScheduler(options, ports, silentLogger(), new Metrics());
      return await scheduler.runNow('batch').finally(() => ledger.close());
    } finally {
      await ports.close();
    }
  }

  /** A breakdown through the query API: each row's values and its metric. */
  async breakdown(site: string, from: number, to: number, dimensions: string[], metric: string): Promise<{ values: string[]; count: number | null }[]> {
    const readKey = this.sites().find((s) => s.id === site)!.readKey;
    const res = await fetch(`http://127.0.0.1:${this.ports.serving}/api/v2/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${readKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ site_id: site, metrics: [metric], date_range: [new Date(from).toISOString(), new Date(to).toISOString()], dimensions, pagination: { limit: 1000 } }),
    });
    const body = (await res.json()) as { results?: { dimensions: string[]; metrics: (number | null)[] }[] };
    if (!res.ok || !body.results) throw new Error(`serving answered ${res.status} for a ${dimensions.join(' × ')} breakdown: ${JSON.stringify(body).slice(0, 500)}`);
    return body.results.map((r) => ({ values: r.dimensions, count: r.metrics[0] ?? null }));
  }

  async series(site: string, from: number, to: number, grain: 'hour' | 'day', metrics: string[]): Promise<SeriesRow[]> {
    const readKey = this.sites().find((s) => s.id === site)!.readKey;
    const url = `http://127.0.0.1:${this.ports.serving}/v1/sites/${site}/series?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&grain=${grain}&metrics=${metrics.join(',')}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${readKey}` } });
    const body = (await res.json()) as { results?: { dimensions: string[]; metrics: (number | null)[]; source?: string; exact?: boolean }[]; error?: unknown };
    if (!res.ok || !body.results) throw new Error(`serving answered ${res.status} for ${url}: ${JSON.stringify(body).slice(0, 500)}`);
    return body.results.map((r) => ({ start: Date.parse(r.dimensions[0]!), source: r.source ?? null, values: Object.fromEntries(metrics.map((m, i) => [m, r.metrics[i] ?? null])) }));
  }
}

export const TRUTH_METRICS = ['pageviews', 'visitors', 'sessions', 'events', 'purchases', 'revenue'] as const satisfies readonly Metric[];

// The truth and the assertion live in the test kit's own files (a unit test proves the assertion
// fails on an empty answer); end-to-end tests import them from here with the harness.
export { expectBucketsEqualTruth, HLL_TOLERANCE, type SeriesRow } from './truth.assert.ts';
export { type TruthSeries } from './truth.ts';

/**
 * testing/truth.ts's series with revenue in the site's reporting currency as the sites file the
 * services run with (SITES_FILE) names it, as the API answers it (contract 10); an explicit
 * `currency` wins.
 */
export function truthSeries(events: readonly TwinlaneEvent[], r: Parameters<typeof truthSeriesOf>[1]): TruthSeries {
  const currency = r.currency ?? loadSites(loadConfig({ ...process.env }).SITES_FILE).get(r.site)?.currency;
  return truthSeriesOf(events, { ...r, ...(currency ? { currency } : {}) });
}
