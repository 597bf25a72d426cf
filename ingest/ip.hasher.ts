/**
 * The raw IP is never stored. It is replaced by an HMAC under a random salt that changes every
 * `rotationMs` and is then forgotten, so a stored hash cannot be reversed (not even by trying
 * all 2^32 IPv4 addresses) once its period is over. The same salt derives the cookieless
 * visitor id (site + IP + user agent) for events that carry none, like Plausible does.
 * Salts live in this process only: several collector instances produce different hashes.
 */
import { createHmac, randomBytes } from 'node:crypto';

export class IpHasher {
  private period = -1;
  private salt: Buffer = Buffer.alloc(0);
  private readonly cache = new Map<string, string>();

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

  /** A visitor id for events that carry none; stable within one salt period. */
  visitorId(siteId: string, ip: string | undefined, userAgent: string | undefined): string {
    return `h-${this.digest(`visitor\u0000${siteId}\u0000${ip ?? ''}\u0000${userAgent ?? ''}`)}`;
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
