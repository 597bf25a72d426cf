/**
 * Keeps the batch watermark W at hand for the consumer's hot path: read once at start, then
 * refreshed in the background every few seconds. A failed refresh keeps the last value (the
 * consumer only uses W to skip what batch already covers, so a stale W costs a few redundant
 * writes, never a wrong number: buckets before W are served from batch).
 */
import type { Logger } from '../core/logger.ts';
import type { WatermarkSource } from '../core/views.ts';

export class WatermarkCache {
  private value: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;

  constructor(private readonly source: WatermarkSource, private readonly refreshMs: number, private readonly logger: Logger) {}

  /** W as last read; null before the first batch run. */
  get current(): number | null {
    return this.value;
  }

  async start(): Promise<void> {
    await this.refresh();
    if (!this.timer) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  refresh(): Promise<void> {
    this.inflight ??= this.source
      .watermark()
      .then((w) => {
        if (w !== this.value) this.logger.info({ event: 'watermark_changed', watermark: w, previous: this.value });
        this.value = w;
      })
      .catch((err: unknown) => this.logger.warn({ event: 'watermark_refresh_failed', err }))
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }
}

/** For a deployment without a batch layer yet: nothing is covered by batch. */
export const NO_WATERMARK: WatermarkSource = { watermark: async () => null };
