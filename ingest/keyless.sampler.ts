/**
 * What the collector keeps of input it refused before authentication (shared design contract 8):
 * never all of it. Anyone can post without a key, so such requests are counted, and only a sample
 * is dead-lettered: per claimed site and minute at most `perSite` requests, each cut to
 * `sampleBytes`, and all of them together within `budgetBytes` a minute (per collector process),
 * so disk grows by at most the budget whatever a client sends. Site ids are the client's word
 * here, so the sites tracked per minute are capped too; the rest share one bucket.
 */
export interface KeylessLimits {
  /** Bytes of dead letters a minute for all refused-before-authentication requests together. */
  budgetBytes: number;
  /** Bytes kept of one such request. */
  sampleBytes: number;
  /** Requests sampled per claimed site and minute. */
  perSite: number;
}

export const DEFAULT_KEYLESS_LIMITS: KeylessLimits = { budgetBytes: 4 * 1024 * 1024, sampleBytes: 4 * 1024, perSite: 10 };

/** Distinct claimed sites tracked within a minute; later ones share OTHER_SITES. */
const MAX_SITES_PER_MINUTE = 1_000;
const OTHER_SITES = '\u0000other';

export interface KeylessVerdict {
  /** Keep a dead letter of this request (its first `keepBytes` bytes). */
  keep: boolean;
  keepBytes: number;
  /** Such requests of this claimed site seen in this minute, this one included. */
  seen: number;
}

export class KeylessSampler {
  private minute = -1;
  private spent = 0;
  private readonly perSite = new Map<string, number>();

  constructor(
    private readonly limits: KeylessLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts one refused request of `bytes` bytes claiming `site`, and says what may be kept of it. */
  admit(site: string | undefined, bytes: number): KeylessVerdict {
    const minute = Math.floor(this.clock() / 60_000);
    if (minute !== this.minute) {
      this.minute = minute;
      this.spent = 0;
      this.perSite.clear();
    }
    let key = site ?? '';
    if (!this.perSite.has(key) && this.perSite.size >= MAX_SITES_PER_MINUTE) key = OTHER_SITES;
    const seen = (this.perSite.get(key) ?? 0) + 1;
    this.perSite.set(key, seen);
    const keepBytes = Math.min(bytes, this.limits.sampleBytes);
    const keep = seen <= this.limits.perSite && this.spent + keepBytes <= this.limits.budgetBytes;
    if (keep) this.spent += keepBytes;
    return { keep, keepBytes: keep ? keepBytes : 0, seen };
  }
}
