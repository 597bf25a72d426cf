/**
 * `make bench ONLY=import`: 1,000,000 Umami page views (30 days, 125,000 sessions) in the local
 * PostgreSQL, imported into a fresh lake by a process of its own, as `twinlane import umami --from`
 * does it: validated, enriched, PII-redacted, written as Parquet.
 *   bench: import_umami_events_per_s  imported events / the import's own time (goal ≥ 100,000)
 *   bench: import_peak_rss_mb         the importing process's peak RSS (goal ≤ 300)
 * `node --import tsx bench/import.bench.ts child <url> <website> <dataDir>` is the measured process.
 * BENCH_IMPORT_EVENTS=200000 for a quick round; BENCH_IMPORT_CPU_PROFILE=<dir> writes the measured
 * process's CPU profile there (node --cpu-prof). The machine's load average and the process's CPU
 * time are printed beside the figures: on a shared machine the rate says little without them.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/logger.ts';
import { importHistory } from '../apps/index.ts';
import { UmamiPostgresSource } from '../transfer/index.ts';
import { createUmamiDatabase, fillUmamiBySql } from '../transfer/testing/umami.fixture.ts';

const EVENTS = Number(process.env.BENCH_IMPORT_EVENTS ?? 1_000_000);
const DAY = 86_400_000;

async function child(url: string, website: string, dataDir: string): Promise<void> {
  const config = loadConfig({ ...process.env, DATA_DIR: dataDir });
  const { report } = await importHistory({ config, logger: silentLogger() }, { kind: 'umami', source: new UmamiPostgresSource(url, website, 'shop'), site: 'shop' });
  if (report.counts.imported !== EVENTS) throw new Error(`imported ${report.counts.imported} of ${EVENTS} events (${JSON.stringify(report.counts)})`);
  const usage = process.resourceUsage();
  console.log(JSON.stringify({ ms: report.durationMs, imported: report.counts.imported, files: report.files, maxRssKb: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }));
}

async function main(): Promise<void> {
  const db = await createUmamiDatabase('tl_umami_bench');
  const dataDir = mkdtempSync(join(tmpdir(), 'twinlane-import-bench-'));
  try {
    const website = randomUUID();
    const t0 = Date.now();
    await fillUmamiBySql(db.url, website, EVENTS, Math.floor(Date.now() / DAY) * DAY - DAY);
    console.error(`bench: ${EVENTS} Umami page views in PostgreSQL in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const out = await new Promise<string>((resolve, reject) => {
      const profile = process.env.BENCH_IMPORT_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_IMPORT_CPU_PROFILE}`] : [];
      const p = spawn(process.execPath, [...profile, '--import', 'tsx', 'bench/import.bench.ts', 'child', db.url, website, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.on('data', (b: Buffer) => (text += b.toString()));
      p.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`the import exited with ${code}`))));
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; imported: number; files: number; maxRssKb: number; cpuMs: number };
    const load = loadavg().map((l) => l.toFixed(2)).join(' ');
    console.error(`bench: ${r.imported} events in ${(r.ms / 1000).toFixed(2)} s into ${r.files} lake files; the importing process used ${(r.cpuMs / 1000).toFixed(1)} s of CPU (its whole life); load average ${load}`);
    console.log(`bench: import_umami_events_per_s = ${Math.round(r.imported / (r.ms / 1000))}`);
    console.log(`bench: import_peak_rss_mb = ${Math.round(r.maxRssKb / 1024)}`);
  } finally {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await main();
