/**
 * The load generator: seeded traffic (traffic.generator.ts) sent to a collector over HTTP, as
 * real clients would: one request per client (site, user agent, IP) carrying up to `batchSize`
 * events, a chosen fraction of them malformed, at a target rate or as fast as possible. It
 * checks every answer against what it sent and can write a ground-truth NDJSON file: each
 * accepted event as it will be stored, and each rejected one with the code it got.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { generateTraffic, rng } from './traffic.generator.ts';
import { clientContext, MALFORMATIONS, toCollectorJson, type Malformation } from './traffic.payload.ts';
import type { CollectResponse } from '../ingest/index.ts';
import { CollectTransport } from '../sdk/index.ts';

export interface LoadSite {
  id: string;
  writeKey: string;
}

export interface LoadOptions {
  collectorUrl: string;
  sites: LoadSite[];
  events: number;
  seed: number;
  /** Events per second; 0 means as fast as possible. */
  rate: number;
  batchSize: number;
  concurrency: number;
  /** Share of events replaced by a malformed variant, 0..1. */
  malformedFraction: number;
  /** Event-time range [from, to) in epoch ms; ignored for `live`. */
  from: number;
  to: number;
  /** Stamp each event with the time it is sent (for live dashboards). */
  live?: boolean;
  gzip?: boolean;
  truthFile?: string;
  /** Attempts per request on 429, 5xx or a network error (the SDK's transport). */
  attempts?: number;
  onProgress?: (sentEvents: number) => void;
  /** Each attempt that is retried (429, 5xx; 0: a network failure), when it failed: fault tests time outages by it. */
  onRetry?: (status: number, at: number) => void;
}

export interface LoadSummary {
  requests: number;
  events: number;
  accepted: number;
  rejected: number;
  malformedSent: number;
  /** Events whose outcome differed from the expectation (valid but rejected, or malformed but accepted). */
  unexpected: number;
  /** Events of requests that failed after every attempt (not accepted, not dead-lettered). */
  failed: number;
  retries: number;
  byStatus: Record<string, number>;
  elapsedMs: number;
  eventsPerSecond: number;
}

interface Item {
  text: string;
  event: TwinlaneEvent;
  malformed?: Malformation;
}

interface Batch {
  site: LoadSite;
  userAgent: string;
  ip: string;
  items: Item[];
}

/** Groups generated events into per-client batches (same site, user agent and IP), in order. */
function* batches(o: LoadOptions): Generator<Batch> {
  const random = rng(o.seed ^ 0x5eed);
  const sites = new Map(o.sites.map((s) => [s.id, s]));
  const open = new Map<string, Batch>();
  for (const event of generateTraffic({ seed: o.seed, sites: o.sites.map((s) => s.id), from: o.from, to: o.to, events: o.events })) {
    const { userAgent, ip } = clientContext(event);
    const key = `${event.site_id}|${userAgent}|${ip}`;
    let batch = open.get(key);
    if (!batch) open.set(key, (batch = { site: sites.get(event.site_id)!, userAgent, ip, items: [] }));
    const json = toCollectorJson(event);
    const malformed = random() < o.malformedFraction ? MALFORMATIONS[Math.floor(random() * MALFORMATIONS.length)]! : undefined;
    batch.items.push({ text: malformed ? malformed.make(json) : JSON.stringify(json), event, ...(malformed ? { malformed } : {}) });
    if (batch.items.length >= o.batchSize) {
      open.delete(key);
      yield batch;
    }
  }
  yield* open.values();
}

function restamp(item: Item, now: number): Item {
  if (item.malformed) return item;
  const event = { ...item.event, event_time: now, received_time: now };
  return { ...item, event, text: JSON.stringify(toCollectorJson(event)) };
}

export class LoadGenerator {
  private readonly transport: CollectTransport;
  private readonly truth: WriteStream | undefined;
  private readonly summary: LoadSummary = { requests: 0, events: 0, accepted: 0, rejected: 0, malformedSent: 0, unexpected: 0, failed: 0, retries: 0, byStatus: {}, elapsedMs: 0, eventsPerSecond: 0 };

  constructor(private readonly o: LoadOptions) {
    // The SDK's transport: the same retries (Retry-After on 429/503, back-off on network errors and 5xx) as every client.
    this.transport = new CollectTransport({
      endpoint: o.collectorUrl,
      retry: { maxAttempts: o.attempts ?? 5, initialDelayMs: 200, maxDelayMs: 5_000 },
      onRetry: (info) => {
        this.summary.retries++;
        o.onRetry?.(info.status, Date.now());
      },
    });
    this.truth = o.truthFile ? createWriteStream(o.truthFile) : undefined;
  }

  async run(): Promise<LoadSummary> {
    const started = Date.now();
    const source = batches(this.o);
    const worker = async () => {
      for (let next = source.next(); !next.done; next = source.next()) {
        const batch = next.value;
        await this.pace(started, batch.items.length);
        await this.send(this.o.live ? { ...batch, items: batch.items.map((i) => restamp(i, Date.now())) } : batch);
      }
    };
    try {
      await Promise.all(Array.from({ length: this.o.concurrency }, worker));
    } finally {
      if (this.truth) await new Promise<void>((resolve, reject) => this.truth!.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    this.summary.elapsedMs = Date.now() - started;
    this.summary.eventsPerSecond = Math.round((this.summary.accepted / Math.max(1, this.summary.elapsedMs)) * 1000);
    return this.summary;
  }

  /** Target rate: wait until sending `n` more events keeps the average at `rate`. */
  private async pace(started: number, n: number): Promise<void> {
    const claimed = this.summary.events;
    this.summary.events += n;
    if (this.o.rate <= 0) return;
    const due = started + (claimed / this.o.rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  private async send(batch: Batch): Promise<void> {
    const text = `[${batch.items.map((i) => i.text).join(',')}]`;
    const headers: Record<string, string> = { 'user-agent': batch.userAgent, 'x-forwarded-for': batch.ip };
    if (this.o.gzip) headers['content-encoding'] = 'gzip';
    const r = await this.transport.send(this.o.gzip ? gzipSync(text) : text, { site: batch.site.id, writeKey: batch.site.writeKey, headers });
    this.summary.requests += r.attempts;
    for (const s of r.statuses) this.summary.byStatus[String(s)] = (this.summary.byStatus[String(s)] ?? 0) + 1;
    this.record(batch, r.status, r.kind === 'answered' ? ((r.answer ?? {}) as Partial<CollectResponse>) : {});
    this.o.onProgress?.(batch.items.length);
  }

  private record(batch: Batch, status: number, answer: Partial<CollectResponse>): void {
    const s = this.summary;
    s.malformedSent += batch.items.filter((i) => i.malformed).length;
    if (status !== 202 && status !== 400) {
      s.failed += batch.items.length;
      return;
    }
    const rejected = new Map((answer.rejected ?? []).map((r) => [r.index, r]));
    batch.items.forEach((item, index) => {
      const r = rejected.get(index);
      if (r) {
        s.rejected++;
        if (!item.malformed || item.malformed.code !== r.code) s.unexpected++;
        this.truth?.write(JSON.stringify({ kind: 'rejected', site_id: batch.site.id, expected_code: item.malformed?.code ?? null, code: r.code, field: r.field ?? null, payload: item.text }) + '\n');
      } else {
        s.accepted++;
        if (item.malformed) s.unexpected++;
        // As it will be stored; received_time and ip_hash are the collector's to set.
        this.truth?.write(JSON.stringify({ kind: 'accepted', event: { ...item.event, received_time: null, ip_hash: null } }) + '\n');
      }
    });
  }
}

export function runLoad(options: LoadOptions): Promise<LoadSummary> {
  return new LoadGenerator(options).run();
}
