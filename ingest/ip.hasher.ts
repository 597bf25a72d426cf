/**
 * The raw IP is never stored. It is replaced by an HMAC under a random salt that changes every
 * `rotationMs` and is then forgotten, so a stored hash cannot be reversed (not even by trying
 * all 2^32 IPv4 addresses) once its period is over. A salt per local day of the site's zone derives
 * the cookieless visitor id (site + IP + user agent) for events that carry none, like Plausible does.
 * Salts live in this process only: several collector instances produce different hashes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Calendar } from '../core/calendar.ts';

export class IpHasher {
  private period = -1;
  private salt: Buffer = Buffer.alloc(0);
  private readonly cache = new Map<string, string>();
  /** The visitor-id salt of each zone's current local date. */
  private readonly days = new Map<string, { date: string; salt: Buffer }>();

  constructor(
    private readonly rotationMs: number,
    private readonly now: () => number = Date.now,
    private readonly newSalt: () => Buffer = () => randomBytes(32),
  ) {}

  /** 16 hex characters; null when there is no IP. */
  hashIp(siteId: string, ip: string | undefined): string | null {
    if (!ip) return null;
    return this.digest(`ip\u0000${siteId}\u0000${ip}`);
  }

  /**
   * A visitor id for events that carry none: stable within one local day of the site's zone, as
   * its salt changes at the site's local midnight (contract 9), so such a visitor is one visitor
   * per local day. One salt per zone in use, dropped when its day is over.
   */
  visitorId(siteId: string, ip: string | undefined, userAgent: string | undefined, zone = 'UTC'): string {
    const date = Calendar.of(zone).localDate(this.now());
    let day = this.days.get(zone);
    if (!day || day.date !== date) {
      day = { date, salt: this.newSalt() };
      if (this.days.size >= 1_000) this.days.clear();
      this.days.set(zone, day);
    }
    return `h-${createHmac('sha256', day.salt).update(`visitor\u0000${siteId}\u0000${ip ?? ''}\u0000${userAgent ?? ''}`).digest('hex').slice(0, 16)}`;
  }

  private digest(input: string): string {
    this.rotate();
    let out = this.cache.get(input);
    if (out === undefined) {
      out = createHmac('sha256', this.salt).update(input).digest('hex').slice(0, 16);
      if (this.cache.size >= 50_000) this.cache.clear();
      this.cache.set(input, out);
    }
    return out;
  }

  private rotate(): void {
    const period = Math.floor(this.now() / this.rotationMs);
    if (period !== this.period) {
      this.period = period;
      this.salt = this.newSalt();
      this.cache.clear();
    }
  }
}
