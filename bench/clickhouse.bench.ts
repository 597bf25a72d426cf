/**
 * `make bench ONLY=clickhouse`: (1) the warehouse step for one 10M-event day, from the lake (the
 * batch bench's generated day: 20 sites, 24 hour files) into ClickHouse — DuckDB reads and
 * deduplicates the day and writes CSV parts, WAREHOUSE_STREAMS HTTP inserts fill a staging
 * table, the count is checked and the partition swapped in. Timed from the start of the load to
 * the recorded swap. Runs against the stack's ClickHouse in a database of its own, dropped after.
 *
 * (2) The serving bench in its ClickHouse mode (bench/serving.bench.ts): serving_ch_series_p99_ms,
 * serving_ch_breakdown_p99_ms and serving_ch_rps beside the DuckDB figures of the same run
 * (BENCH_CLICKHOUSE_SERVING=false skips it).
 *
 * BENCH_WAREHOUSE_EVENTS overrides the size; BENCH_WAREHOUSE_LAKE=<dir> reuses a lake written by
 * `node --import tsx bench/batch.bench.ts generate <dir> <n>` instead of generating one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { lakeDay } from '../batch/index.ts';
import { ClickHouseConnection, WarehouseLoader, clickhouseOptions, ownerOf, qualifiedName, quoteIdentifier } from '../clickhouse/index.ts';
import { stackPaths } from '../core/processes.ts';
import { clickhouseRunning } from '../stack/index.ts';

const DAY = '2026-03-14';
const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const logger = createLogger({ level: config.LOG_LEVEL, pretty: false }, 'bench-clickhouse');
const n = Number(process.env.BENCH_WAREHOUSE_EVENTS ?? 10_000_000);
const options = clickhouseOptions(config);
if (!options) throw new Error('no ClickHouse: run `make stack-up` (it starts one) or set CLICKHOUSE_URL');

const given = process.env.BENCH_WAREHOUSE_LAKE;
const lakeDir = given ?? mkdtempSync(join(tmpdir(), 'twinlane-bench-warehouse-'));
const work = mkdtempSync(join(tmpdir(), 'twinlane-bench-warehouse-work-'));
const database = `bench_${Date.now().toString(36)}`;
const connection = new ClickHouseConnection(options);

/** Peak RSS (MB) and CPU seconds so far of our own ClickHouse, when the stack runs it. */
function clickhouseProcess(): { rssMb: number; cpuS: number } | undefined {
  const pid = clickhouseRunning(stackPaths());
  if (!pid) return undefined;
  const rss = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  return { rssMb: rss ? Number(rss[1]) / 1024 : 0, cpuS: (Number(stat[11]) + Number(stat[12])) / 100 };
}

try {
  if (!given) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/batch.bench.ts', 'generate', lakeDir, String(n)], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`generating the lake failed (exit ${r.status})`);
  }
  const files = lakeDay(lakeDir, DAY).files;
  if (files.length === 0) throw new Error(`no lake files for ${DAY} under ${lakeDir}`);
  const loader = new WarehouseLoader({
    connection,
    database,
    owner: ownerOf(lakeDir),
    streams: config.WAREHOUSE_STREAMS,
    duckdb: { memoryLimit: config.BATCH_MEMORY_LIMIT, threads: config.BATCH_THREADS, tempDir: join(work, 'duckdb') },
    workDir: join(work, 'parts'),
    logger,
  });
  await loader.ensureSchema();
  const ch0 = clickhouseProcess();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await loader.sync([{ day: DAY, source: 'bench', files }]);
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ch1 = clickhouseProcess();
  const load = r.loaded[0]!;
  const [{ n: stored } = { n: '0' }] = await connection.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(database, 'events')}`, 'counting');
  if (Number(stored) !== load.rows) throw new Error(`events holds ${stored} rows, ${load.rows} were loaded`);
  console.log(`# ${load.rows} events, ${files.length} lake files, ${config.WAREHOUSE_STREAMS} stream(s), ClickHouse ${await connection.version()}; export ${(load.exportMs / 1000).toFixed(2)} s, insert ${(load.insertMs / 1000).toFixed(2)} s, swap ${(load.swapMs / 1000).toFixed(2)} s`);
  // CPU seconds say what the load costs whatever else runs on the machine; the rate depends on it.
  console.log(`# CPU: this process (DuckDB export, HTTP streams) ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s${ch0 && ch1 ? `, ClickHouse ${(ch1.cpuS - ch0.cpuS).toFixed(1)} s` : ''}; load average ${loadavg()[0]!.toFixed(1)}`);
  console.log(`bench: warehouse_load_rows_per_s = ${Math.round(load.rows / s)}`);
  console.log(`bench: warehouse_load_s = ${s.toFixed(2)}`);
  if (ch1) console.log(`bench: clickhouse_peak_rss_mb = ${Math.round(ch1.rssMb)}`);
  if (readdirSync(join(work, 'parts')).length !== 0) throw new Error('CSV parts were left behind');
} finally {
  await connection.command(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`, 'dropping the bench database').catch(() => undefined);
  await connection.close();
  if (!given) rmSync(lakeDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

// The serving side of ClickHouse: the serving bench's queries on the batch views published there,
// beside the DuckDB files of the same run (bench/serving.bench.ts, clickhouse mode).
if (process.env.BENCH_CLICKHOUSE_SERVING !== 'false') {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/serving.bench.ts'], { stdio: 'inherit', env: { ...process.env, BENCH_SERVING_MODE: 'clickhouse' } });
  if (r.status !== 0) throw new Error(`the ClickHouse serving bench failed (exit ${r.status})`);
}
