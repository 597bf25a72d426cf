/**
 * The right to erasure (`twinlane erase`): one visitor of a site, or a whole site, removed from
 * every store that keeps events, in this order:
 *   1. listed in the erasure list (core/erasure.list.ts): from then on no path brings it back
 *      (speed consumer and rebuilds, lake archiver, batch job, warehouse loads);
 *   2. after the long-running readers have looked at the list (ERASURE_REFRESH and a margin), the
 *      lake's files holding it are rewritten, until a pass finds none;
 *   3. every day a kept batch version holds it in is recomputed into a new version, and the older
 *      versions that hold it (which cannot be rewritten) are dropped with their folders;
 *   4. the ClickHouse warehouse deletes its events (days the lake no longer has included) and
 *      mirrors the new version; ClickHouse batch views, when used, are published again;
 *   5. dead letters holding it are removed;
 *   6. the list entry is marked done, and the job ledger records the run with the keyed hash only.
 * Speed keys are not rewritten: they age out within SPEED_TTL, and the merged answers read speed
 * only from W on. A failure leaves the entry pending; running the same command again resumes it
 * (every step is idempotent).
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigValues } from '../core/config.ts';
import { openSmallDuckDB } from '../core/duckdb.ts';
import { ErasureList, ERASED_MACRO, type ErasureEntry } from '../core/erasure.list.ts';
import { TwinlaneError, UsageError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { SITE_ID_PATTERN } from '../core/sites.ts';
import { batchOptions, eraseFromLake, runBatch, ViewsStore, type LakeEraseResult } from '../batch/index.ts';
import { DeadLetterStore, letterMatches } from '../dlq/index.ts';
import { JobLedger } from '../orchestration/index.ts';
import { warehousePorts } from './warehouse-ports.ts';
import { viewsPublishPorts } from './views-ports.ts';

export interface EraseRequest {
  site: string;
  /** Absent: the whole site. */
  visitor?: string;
  /** Count what would be removed; change nothing. */
  dryRun?: boolean;
}

export type ErasePhase = 'waiting for readers' | 'lake scan' | 'lake rewrite' | 'views' | 'warehouse' | 'dead letters';

export interface EraseReport {
  id: string;
  site: string;
  wholeSite: boolean;
  /** The keyed hash the erasure list holds (never the visitor id). */
  visitorHash?: string;
  dryRun: boolean;
  lake: LakeEraseResult & { passes: number };
  views: { days: string[]; version: string | null; removedDays: string[]; versionsDropped: string[]; foldersDropped: string[] };
  warehouse: { rows: number; days: string[] } | 'off';
  clickhouseViews: 'published' | 'off';
  deadLetters: { letters: number; files: number };
  speed: string;
  durationMs: number;
}

export interface EraseDeps {
  config: ConfigValues;
  logger: Logger;
  onPhase?: (phase: ErasePhase, done: number, total: number) => void;
}

const MAX_VISITOR_LENGTH = 512;

function validate(req: EraseRequest): void {
  if (!SITE_ID_PATTERN.test(req.site)) throw new UsageError('BAD_SITE', `--site ${JSON.stringify(req.site)} is not a site id (lower-case letters, digits, _ or -, at most 64)`);
  if (req.visitor !== undefined && (req.visitor.length === 0 || req.visitor.length > MAX_VISITOR_LENGTH)) throw new UsageError('BAD_VISITOR', `--visitor must be 1 to ${MAX_VISITOR_LENGTH} characters`);
}

/** Folders of kept batch versions whose day events hold the erased rows. */
async function viewFoldersHolding(store: ViewsStore, macroSql: string): Promise<Set<string>> {
  const dirs = new Set<string>();
  for (const v of store.versions()) for (const e of Object.values(store.manifest(v).days)) dirs.add(e.dir);
  const holding = new Set<string>();
  if (dirs.size === 0) return holding;
  const db = await openSmallDuckDB(1);
  try {
    await db.conn.run(macroSql);
    for (const dir of dirs) {
      const file = store.tablePath(dir, 'events');
      try {
        const r = await db.conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet($file) WHERE ${ERASED_MACRO}(site_id, visitor_id)`, { file });
        if (Number(r.getRowObjectsJS()[0]?.n ?? 0) > 0) holding.add(dir);
      } catch (err) {
        // A folder whose raw events were trimmed (past their tier) holds aggregates only, no visitor ids.
        if (!/No files found|does not exist/i.test(errorMessage(err))) throw err;
      }
    }
  } finally {
    db.close();
  }
  return holding;
}

export async function erase(deps: EraseDeps, req: EraseRequest): Promise<EraseReport> {
  validate(req);
  const { config, logger } = deps;
  const t0 = Date.now();
  const list = new ErasureList(config.DATA_DIR, config.ERASURE_REFRESH);
  const dryRun = req.dryRun === true;
  const ledger = dryRun ? undefined : JobLedger.inDataDir(config.DATA_DIR);
  const release = dryRun ? () => undefined : list.lock();
  let entry: ErasureEntry;
  let run: Awaited<ReturnType<JobLedger['begin']>> | undefined;
  try {
    // A dry run lists nothing: its macro is built from an entry of its own.
    entry = dryRun
      ? { id: 'dry-run', site: req.site, ...(req.visitor !== undefined ? { visitor: list.hash(req.site, req.visitor) } : {}), requestedAt: Date.now(), state: 'pending' }
      : list.add(req.site, req.visitor);
    run = await ledger?.begin('erase', 'manual');
  } catch (err) {
    release();
    await ledger?.close();
    throw err;
  }
  const macroSql = list.macroSql(entry);
  const report: EraseReport = {
    id: entry.id,
    site: req.site,
    wholeSite: req.visitor === undefined,
    ...(entry.visitor !== undefined ? { visitorHash: entry.visitor } : {}),
    dryRun,
    lake: { files: 0, deletedFiles: 0, rows: 0, days: [], passes: 0 },
    views: { days: [], version: null, removedDays: [], versionsDropped: [], foldersDropped: [] },
    warehouse: 'off',
    clickhouseViews: 'off',
    deadLetters: { letters: 0, files: 0 },
    durationMs: 0,
    speed: `speed keys are not rewritten: they expire within SPEED_TTL (${Math.round(config.SPEED_TTL / 3_600_000)} h); serving reads speed only from W on, and no speed path applies the erased events again`,
  };
  logger.info({ event: 'erase_started', id: entry.id, site: req.site, whole_site: report.wholeSite, dry_run: dryRun });
  try {
    if (!dryRun) {
      // Readers that hold records of the erased visitor in memory (an archiver's spool) filter them when they write, once they have seen the list.
      const waitMs = config.ERASURE_REFRESH + 1_000;
      deps.onPhase?.('waiting for readers', 0, waitMs);
      await sleep(waitMs);
      deps.onPhase?.('waiting for readers', waitMs, waitMs);
    }
    const opts = batchOptions(config);
    // Files placed while a pass ran (a roll begun before the list changed) are found by the next.
    const days = new Set<string>();
    for (let pass = 1; pass <= 3; pass++) {
      const r = await eraseFromLake({ dataDir: config.DATA_DIR, duckdb: opts.duckdb, macroSql, dryRun, onProgress: (done, total, phase) => deps.onPhase?.(phase === 'scan' ? 'lake scan' : 'lake rewrite', done, total) });
      report.lake.passes = pass;
      for (const d of r.days) days.add(d);
      report.lake.files += r.files;
      report.lake.deletedFiles += r.deletedFiles;
      report.lake.rows += r.rows;
      if (r.files === 0 || dryRun) break;
    }
    report.lake.days = [...days].sort();

    deps.onPhase?.('views', 0, 1);
    const store = new ViewsStore(config.DATA_DIR);
    const holding = await viewFoldersHolding(store, macroSql);
    const current = store.current();
    const toRecompute = Object.entries(current?.days ?? {})
      .filter(([day, e]) => holding.has(e.dir) || days.has(day))
      .map(([day, e]) => (e.until !== undefined ? { day, until: e.until } : { day }));
    report.views.days = toRecompute.map((p) => p.day);
    if (!dryRun && toRecompute.length > 0) {
      const rec = await runBatch({ options: opts, logger }, { parts: toRecompute });
      if (rec.status === 'failed') throw new UsageError('ERASE_BATCH_FAILED', `recomputing ${report.views.days.join(', ')} failed: ${rec.errors.join('; ')}; run the same erase again`);
      report.views.version = rec.version;
      report.views.removedDays = rec.removed ?? [];
    }
    if (!dryRun && holding.size > 0) {
      const f = store.forget(holding);
      report.views.versionsDropped = f.versions;
      report.views.foldersDropped = f.dirs;
    }
    deps.onPhase?.('views', 1, 1);

    const wh = warehousePorts(config, logger);
    if (wh) {
      deps.onPhase?.('warehouse', 0, 1);
      try {
        const r = wh.loader ? await wh.loader.erase(req.site, req.visitor, dryRun) : { rows: 0, days: [] };
        if (!dryRun) await wh.warehouse.sync({ signal: new AbortController().signal });
        report.warehouse = r;
      } finally {
        await wh.close();
      }
      deps.onPhase?.('warehouse', 1, 1);
    }
    const chViews = dryRun ? undefined : viewsPublishPorts(config, logger);
    if (chViews) {
      try {
        await chViews.views.publish({ signal: new AbortController().signal });
        report.clickhouseViews = 'published';
      } finally {
        await chViews.close();
      }
    }

    deps.onPhase?.('dead letters', 0, 1);
    const letters = new DeadLetterStore(join(config.DATA_DIR, 'dlq'));
    try {
      report.deadLetters = await letters.erase((l) => letterMatches(l, { site: req.site, ...(req.visitor !== undefined ? { visitor: req.visitor } : {}) }), dryRun);
    } finally {
      letters.close();
    }
    deps.onPhase?.('dead letters', 1, 1);

    if (!dryRun) list.markDone(entry.id);
    report.durationMs = Date.now() - t0;
    await ledger?.finish(run!.id, { status: 'succeeded', attempts: 1, days: report.lake.days, rows: report.lake.rows, details: { ...report } });
    logger.info({ event: 'erase_done', id: entry.id, site: req.site, whole_site: report.wholeSite, dry_run: dryRun, lake_rows: report.lake.rows, lake_files: report.lake.files, days: report.views.days.length, letters: report.deadLetters.letters });
    return report;
  } catch (err) {
    await ledger?.finish(run!.id, { status: 'failed', attempts: 1, error: errorMessage(err), ...(err instanceof TwinlaneError ? { errorCode: err.code } : {}), details: { id: entry.id, site: req.site, wholeSite: report.wholeSite, ...(entry.visitor ? { visitorHash: entry.visitor } : {}) } });
    logger.error({ event: 'erase_failed', id: entry.id, site: req.site, err }, 'the erasure stays pending: run the same command again to finish it');
    throw err;
  } finally {
    await ledger?.close();
    release();
  }
}
