/**
 * The Node.js client: typed events into a bounded in-memory queue, sent in batches by one
 * sender (one request in flight, so events leave in the order they were tracked), each batch
 * retried by CollectTransport until the collector answers it for good.
 *
 * Exactly once, end to end: every event gets its UUID here, when it is tracked, and keeps it
 * through every retry; the collector is at-least-once (a request answered 503, or whose answer
 * was lost with the connection, may have landed), and the batch layer keeps one row per id.
 */
import { randomUUID } from 'node:crypto';
import { CollectTransport } from './collect.transport.ts';
import { parseClientOptions, type ClientOptions, type ClientOptionsInput } from './options.ts';
import { TwinlaneSdkError } from './sdk.errors.ts';
import type { ClientStats, EventContext, EventProps, Rejection, WireEvent } from './types.ts';

interface Queued {
  event: WireEvent;
  /** Events with the same request context (user agent, client address) share a request. */
  contextKey: string;
  headers: Record<string, string>;
}

export class TwinlaneClient {
  readonly options: ClientOptions;
  private readonly transport: CollectTransport;
  private queue: Queued[] = [];
  private readonly counters: Omit<ClientStats, 'queued'> = { inFlight: 0, accepted: 0, rejected: 0, failed: 0, dropped: 0, requests: 0, retries: 0 };
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** The one sender; undefined when idle. */
  private draining: Promise<void> | undefined;
  /** Send partial batches too (flush, timer, stop), not only full ones. */
  private forceWanted = false;
  private stopping: Promise<void> | undefined;
  /** Aborted by stop() when its time is up: cuts a retry wait or a request short. */
  private abort = new AbortController();
  /** Set from the first drop until the queue has room again, so QUEUE_FULL is reported once per overflow. */
  private overflowing = false;

  /** @throws TwinlaneSdkError INVALID_OPTIONS naming every wrong option. */
  constructor(options: ClientOptionsInput, random: () => number = Math.random) {
    this.options = parseClientOptions(options);
    this.transport = new CollectTransport(
      { endpoint: this.options.endpoint, requestTimeoutMs: this.options.requestTimeoutMs, retry: this.options.retry, headers: this.options.headers, onRetry: this.options.onRetry },
      random,
    );
  }

  /** Events pushed out of the full queue since the client was made. */
  get dropped(): number {
    return this.counters.dropped;
  }

  stats(): ClientStats {
    return { queued: this.queue.length, ...this.counters };
  }

  /** Starts sending: full batches at once, partial ones every `flushIntervalMs`. Safe to call twice. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.options.flushIntervalMs > 0) {
      // unref: an idle client must not keep the process alive; stop() is what flushes on exit.
      this.timer = setInterval(() => void this.pump(true), this.options.flushIntervalMs).unref();
    }
    if (this.queue.length >= this.options.batchSize) void this.pump(false);
  }

  /**
   * Sends everything queued (retrying as configured), keeps sending, then gives up on what is
   * left after `shutdownTimeoutMs` (reported as SHUTDOWN_TIMEOUT). Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  /** Records a page view; returns the event id. */
  pageview(context: EventContext): string {
    return this.enqueue({ ...this.base(context), type: 'pageview' }, context);
  }

  /** Records a custom event; returns the event id. */
  track(name: string, context: EventContext): string {
    return this.enqueue({ ...this.base(context), type: 'custom', name }, context);
  }

  /** Records a purchase of `amount` (currency units, at most 6 decimals) in `currency` (ISO 4217); returns the event id. */
  purchase(amount: number, currency: string, context: EventContext): string {
    return this.enqueue({ ...this.base(context), type: 'purchase', revenue: amount, currency: currency.toUpperCase() }, context);
  }

  /** Sends every queued event now, partial batches included; resolves when the queue is empty (or stop() gave up). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) await this.pump(true);
    // A batch may still be in flight after the queue emptied.
    await this.draining;
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    this.timer = undefined;
    const deadline = setTimeout(() => this.abort.abort(), this.options.shutdownTimeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(deadline);
    }
    const left = this.queue.splice(0);
    if (left.length > 0) this.fail('SHUTDOWN_TIMEOUT', `stop() gave up after ${this.options.shutdownTimeoutMs} ms with ${left.length} events unsent`, left.map((q) => q.event));
    // The abort was for this stop only: later flush() or start() calls send again.
    if (this.abort.signal.aborted) this.abort = new AbortController();
  }

  private base(c: EventContext): Omit<WireEvent, 'type'> {
    const e: Omit<WireEvent, 'type'> = {
      id: c.id ?? randomUUID(),
      ts: c.timestamp === undefined ? Date.now() : typeof c.timestamp === 'number' ? c.timestamp : c.timestamp.getTime(),
      url: c.url,
    };
    // Only the fields given: the collector refuses unknown fields and treats absent ones as defaults.
    if (c.visitor !== undefined) e.visitor = c.visitor;
    if (c.session !== undefined) e.session = c.session;
    if (c.referrer !== undefined) e.referrer = c.referrer;
    if (c.title !== undefined) e.title = c.title;
    if (c.props !== undefined) e.props = { ...c.props } satisfies EventProps;
    if (c.screenWidth !== undefined) e.screen_width = c.screenWidth;
    return e;
  }

  private enqueue(event: WireEvent, c: EventContext): string {
    const headers: Record<string, string> = {};
    if (c.userAgent !== undefined) headers['user-agent'] = c.userAgent;
    if (c.ip !== undefined) headers['x-forwarded-for'] = c.ip;
    this.queue.push({ event, contextKey: `${c.userAgent ?? ''}\u0000${c.ip ?? ''}`, headers });
    if (this.queue.length > this.options.maxQueue) {
      // Oldest first: while the collector is down, the most recent events are the ones worth keeping.
      const gone = this.queue.splice(0, this.queue.length - this.options.maxQueue);
      this.counters.dropped += gone.length;
      if (!this.overflowing) {
        this.overflowing = true;
        this.report(new TwinlaneSdkError('QUEUE_FULL', `the queue holds ${this.options.maxQueue} events: the oldest are being dropped (see stats().dropped)`, { events: gone.map((q) => q.event), retriable: true }));
      }
    }
    if (this.running && this.queue.length >= this.options.batchSize) void this.pump(false);
    return event.id;
  }

  /** Starts the sender unless it runs; it keeps going while there is a batch to send. */
  private pump(force: boolean): Promise<void> {
    if (force) this.forceWanted = true;
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (!this.abort.signal.aborted) {
      if (this.queue.length === 0) {
        this.forceWanted = false;
        return;
      }
      if (!this.forceWanted && (!this.running || this.queue.length < this.options.batchSize)) return;
      await this.deliver(this.takeBatch());
    }
  }

  /** Up to batchSize events sharing the oldest event's request context, in queue order. */
  private takeBatch(): Queued[] {
    const key = this.queue[0]!.contextKey;
    const batch: Queued[] = [];
    const rest: Queued[] = [];
    for (const q of this.queue) (batch.length < this.options.batchSize && q.contextKey === key ? batch : rest).push(q);
    this.queue = rest;
    if (this.queue.length < this.options.maxQueue) this.overflowing = false;
    return batch;
  }

  private async deliver(batch: Queued[]): Promise<void> {
    const events = batch.map((q) => q.event);
    this.counters.inFlight = events.length;
    const result = await this.transport.send(JSON.stringify(events), { site: this.options.site, writeKey: this.options.writeKey, headers: batch[0]!.headers }, this.abort.signal);
    this.counters.inFlight = 0;
    this.counters.requests += result.attempts;
    this.counters.retries += result.attempts - 1;
    if (result.kind === 'gave-up') {
      this.fail(result.aborted ? 'SHUTDOWN_TIMEOUT' : 'RETRIES_EXHAUSTED', `${events.length} events not delivered: ${result.reason}`, events, result.status, result.cause);
      return;
    }
    if (result.kind === 'refused') {
      this.fail('REQUEST_REFUSED', `the collector refused the request (${result.status} ${result.error.code}): ${result.error.message}`, events, result.status);
      return;
    }
    const rejections: Rejection[] = (result.answer?.rejected ?? []).filter((r) => events[r.index] !== undefined);
    this.counters.accepted += events.length - rejections.length;
    this.counters.rejected += rejections.length;
    if (rejections.length > 0) {
      const first = rejections[0]!;
      this.report(
        new TwinlaneSdkError('EVENTS_REJECTED', `the collector refused ${rejections.length} of ${events.length} events (first: ${first.code} ${first.field ?? ''} ${first.message})`, {
          status: result.status,
          events: rejections.map((r) => events[r.index]!),
          rejections,
        }),
      );
    }
    try {
      this.options.onDelivered?.({ events, answer: result.answer ?? { accepted: events.length, rejected: [] }, attempts: result.attempts });
    } catch {
      // A caller's hook must not stop the delivery.
    }
  }

  private fail(code: 'SHUTDOWN_TIMEOUT' | 'RETRIES_EXHAUSTED' | 'REQUEST_REFUSED', message: string, events: WireEvent[], status?: number, cause?: unknown): void {
    this.counters.failed += events.length;
    this.report(new TwinlaneSdkError(code, message, { status, events, cause, retriable: code !== 'REQUEST_REFUSED' }));
  }

  private report(err: TwinlaneSdkError): void {
    try {
      this.options.onError?.(err);
    } catch {
      // A caller's hook must not stop the delivery.
    }
  }
}
