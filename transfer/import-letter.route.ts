/**
 * Replay of the dead letters an import wrote (source topic `import~<id>`, reporter `import`, row
 * number as offset; import.runner.ts). They are history (contract 9), so they go back the way
 * imported rows go, never the live way, whose clock-skew window refuses them: the record (the
 * letter's JSON row, or what a transform returns: one object of the importable shape) through the
 * import's own mapping (event-record.mapper.ts: the collector's validation, enrichment and PII
 * redaction, the site check, the Avro schema; only the clock-skew window is left out), left out
 * when erased or at or after the import's cutoff, then into the lake as imported files
 * (import.lake.sink.ts) named `import~<id>-replay~p0~o<first row>-<last row>.parquet`. That name
 * is the import's own but outside `--again`'s reach: a run again writes the same letters, already
 * replayed. A row without an event id gets the id the import gives it, so the batch dedupes it
 * against any other copy.
 */
import type { DuckDBOptions } from '../core/duckdb.ts';
import type { ErasureList } from '../core/erasure.list.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Sites } from '../core/sites.ts';
import { IMPORT_FILE_PREFIX } from '../batch/index.ts';
import { TransformError, type Preparation, type PreparedRecord, type ReplayRoute, type RouteLanding, type StoredDeadLetter, type Transform } from '../dlq/index.ts';
import type { EventEnricher } from '../ingest/index.ts';
import type { EventCodec } from '../schemas/index.ts';
import { EventRecordMapper } from './event-record.mapper.ts';
import { ImportLakeSink, type PlacedChunk } from './import.lake.sink.ts';
import { readImportState, type ImportState } from './import.state.ts';
import { liveStarts } from './live-start.ts';

/** Appended to the import id in the replayed files' topic, so `import~<id>~` (the import's own files) never matches them. */
export const REPLAY_SUFFIX = '-replay';

export interface ImportLetterRouteDeps {
  dataDir: string;
  sites: Sites;
  erasures: ErasureList;
  enricher: EventEnricher;
  codec: Pick<EventCodec, 'type' | 'invalidPaths'>;
  duckdb: Omit<DuckDBOptions, 'tempDir'>;
  logger: Logger;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8').replace(/^\uFEFF/, '')) };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

/** The import a letter came from and its row, when an import wrote it. */
function origin(letter: StoredDeadLetter): { importId: string; row: number } | undefined {
  const s = letter.source;
  // The store keeps who reported a letter in `seenBy` (one letter per source record).
  if (!(letter.seenBy.includes('import') || letter.reporter === 'import') || !s?.topic.startsWith(IMPORT_FILE_PREFIX)) return undefined;
  const row = Number(s.offset);
  return Number.isSafeInteger(row) && row > 0 ? { importId: s.topic.slice(IMPORT_FILE_PREFIX.length), row } : undefined;
}

export class ImportLetterRoute implements ReplayRoute {
  private readonly mappers = new Map<string, EventRecordMapper>();
  private readonly sinks = new Map<string, ImportLakeSink>();
  private readonly states = new Map<string, ImportState | undefined>();
  private live: Promise<Record<string, number>> | undefined;
  private refreshed = false;

  constructor(private readonly deps: ImportLetterRouteDeps) {}

  claims(letter: StoredDeadLetter): boolean {
    return origin(letter) !== undefined;
  }

  async prepare(letter: StoredDeadLetter, transform?: Transform): Promise<Preparation<PreparedRecord>> {
    const { importId, row } = origin(letter)!;
    const where = `import ${importId} row ${row}`;
    const json = letter.payloadFormat === 'json' ? parseJson(letter.payload) : undefined;
    let value: unknown = json?.ok ? json.value : undefined;
    let transformed = false;
    if (transform) {
      const { payload, ...meta } = letter;
      let out: unknown;
      try {
        out = await transform({ letter: meta, payload, text: payload.toString('utf8'), ...(json?.ok ? { json: json.value } : {}) });
      } catch (err) {
        throw new TransformError(letter.id, err);
      }
      if (out === null) return { kind: 'skip', reason: 'the transform returned null' };
      if (out !== undefined) (value = out), (transformed = true);
    }
    if (!isObject(value)) {
      const why = transformed ? 'the transform returned no object' : json && !json.ok ? `the row is not JSON (${json.error})` : json ? 'the row is not a JSON object' : `the row is ${letter.payloadFormat}`;
      return { kind: 'fail', code: 'PAYLOAD_FORMAT', message: `${where}: ${why}; an import's letter replays as one record of the importable event shape (transfer/README.md): give a --transform that returns one` };
    }
    const mapped = this.mapper(importId, letter.siteId).map(value, row);
    if (mapped.kind === 'dead-letter') return { kind: 'fail', code: mapped.code, message: `${where}: ${mapped.message}${transformed ? ' (after the transform)' : ''}`, ...(mapped.field !== undefined ? { field: mapped.field } : {}) };
    const e = mapped.event;
    const cutoff = await this.cutoffOf(importId, letter.firstSeen, e.site_id);
    if (e.event_time >= cutoff) return { kind: 'skip', reason: `${where}: at or after the import's cutoff ${new Date(cutoff).toISOString()} (its start, or when live tracking of ${e.site_id} began): live events cover it` };
    if (!this.refreshed) {
      this.deps.erasures.refresh(true);
      this.refreshed = true;
    }
    if (this.deps.erasures.erased(e.site_id, e.visitor_id)) return { kind: 'skip', reason: `${where}: the visitor is erased and stays erased` };
    return { kind: 'pass', events: [{ event: e, eventId: e.event_id, siteId: e.site_id }] };
  }

  /** One chunk's events into the lake, a file set per import; durable when it resolves, markers kept until `settle()`. */
  async land(passed: { letter: StoredDeadLetter; events: PreparedRecord[] }[]): Promise<RouteLanding> {
    const byImport = new Map<string, typeof passed>();
    for (const p of passed) {
      const { importId } = origin(p.letter)!;
      byImport.set(importId, [...(byImport.get(importId) ?? []), p]);
    }
    const placed: { sink: ImportLakeSink; chunk: PlacedChunk }[] = [];
    for (const [importId, items] of byImport) {
      const sink = await this.sink(importId);
      const rows = items.map((p) => origin(p.letter)!.row);
      const first = Math.min(...rows);
      for (const p of items) for (const e of p.events) sink.append(e.event, first);
      placed.push({ sink, chunk: await sink.place(first, Math.max(...rows)) });
    }
    const files = placed.flatMap((p) => p.chunk.files);
    this.deps.logger.info({ event: 'import_letters_landed', letters: passed.length, files: files.length });
    return { files, days: [...new Set(placed.flatMap((p) => p.chunk.days))].sort(), settle: () => placed.forEach((p) => p.sink.committed(p.chunk)) };
  }

  async close(): Promise<void> {
    for (const s of this.sinks.values()) await s.close();
    this.sinks.clear();
  }

  /** The mapping of the import, with its `--site` (the letter's site: the row's, or the import's for a row naming none or an unknown one). */
  private mapper(importId: string, site: string | undefined): EventRecordMapper {
    const key = `${importId}\0${site ?? ''}`;
    let m = this.mappers.get(key);
    if (!m) this.mappers.set(key, (m = new EventRecordMapper({ sites: this.deps.sites, enricher: this.deps.enricher, codec: this.deps.codec, importId, ...(site !== undefined ? { defaultSite: site } : {}) })));
    return m;
  }

  /**
   * Where the import stopped for a site (fixed at its first run, import.state.ts); without its
   * checkpoint file, the import's start (the letters' first-seen time) and live tracking's start now.
   */
  private async cutoffOf(importId: string, importStart: number, site: string): Promise<number> {
    if (!this.states.has(importId)) this.states.set(importId, readImportState(this.deps.dataDir, importId));
    const state = this.states.get(importId);
    if (state) return Math.min(state.cutoff.importStart, state.cutoff.liveStarts[site] ?? Infinity);
    this.live ??= liveStarts(this.deps.dataDir, this.deps.duckdb);
    return Math.min(importStart, (await this.live)[site] ?? Infinity);
  }

  /**
   * The lake sink of an import's replayed rows. Markers a replay left (stopped between landing a
   * chunk and recording its letters) go and their files stay: those letters are still pending and
   * land again with the same event ids, which the batch dedupes, as for a chunk sent to Kafka twice.
   */
  private async sink(importId: string): Promise<ImportLakeSink> {
    let s = this.sinks.get(importId);
    if (!s) {
      s = new ImportLakeSink({ dataDir: this.deps.dataDir, importId: `${importId}${REPLAY_SUFFIX}`, duckdb: this.deps.duckdb, erasures: this.deps.erasures });
      await s.open();
      s.recover(Number.MAX_SAFE_INTEGER);
      this.sinks.set(importId, s);
    }
    return s;
  }
}
