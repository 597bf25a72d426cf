/**
 * The raw IP is never stored. It is replaced by an HMAC under a random salt that changes every
 * `rotationMs` and is then forgotten, so a stored hash cannot be reversed (not even by trying
 * all 2^32 IPv4 addresses) once its period is over. A salt per local day of the site's zone derives
 * the cookieless visitor id (site + IP + user agent) for events that carry none, like Plausible does.
 *
 * The salts come from a SaltStore: shared through Redis by every collector process (so they all
 * give a visitor the same id), or in this process only. Hashing is synchronous; `prepare()` loads
 * the salts a request needs first. A salt not loaded when an event is hashed (Redis away at the
 * start of a period) throws SaltUnavailableError, which becomes a 503: a salt of our own would
 * give the visitor a second id.
 */
import { createHmac } from 'node:crypto';
import { Calendar } from '../core/calendar.ts';
import { MemorySaltStore, SaltUnavailableError, type SaltStore } from './salt.store.ts';

/** A salt's Redis copy outlives its period by this much (clock skew between collector machines). */
export const SALT_GRACE_MS = 5 * 60_000;

/** One period's salt: its name in the store, when the period ends, and the salt once loaded. */
interface Slot {
  name: string;
  start: number;
  end: number;
  salt?: Buffer;
  loading?: Promise<void>;
  /** Ids derived under this salt (visitor-id slots), forgotten with it. */
  ids?: Map<string, string>;
}

export class IpHasher {
  private ipSlot: Slot | undefined;
  private readonly cache = new Map<string, string>();
  /** The visitor-id salt of each zone's current local date. */
  private readonly days = new Map<string, Slot>();

  constructor(
    private readonly rotationMs: number,
    private readonly now: () => number = Date.now,
    private readonly store: SaltStore = new MemorySaltStore(),
    /** How long past its period's end the store keeps a salt. */
    private readonly graceMs = SALT_GRACE_MS,
  ) {}

  /**
   * Loads the salts that hashing for `zone` needs now; undefined when they are loaded already (the
   * common case, no promise made). Concurrent callers share one load; a failed one is retried by
   * the next call.
   */
  prepare(zone = 'UTC'): Promise<void> | undefined {
    const t = this.now();
    const a = this.load(this.ipSlotAt(t));
    const b = this.load(this.daySlotAt(zone, t));
    if (!a && !b) return undefined;
    return Promise.all([a, b]).then(() => undefined);
  }

  /** 16 hex characters; null when there is no IP. */
  hashIp(siteId: string, ip: string | undefined): string | null {
    if (!ip) return null;
    const slot = this.ipSlotAt(this.now());
    const salt = this.saltOf(slot);
    const input = `ip\u0000${siteId}\u0000${ip}`;
    let out = this.cache.get(input);
    if (out === undefined) {
      out = createHmac('sha256', salt).update(input).digest('hex').slice(0, 16);
      if (this.cache.size >= 50_000) this.cache.clear();
      this.cache.set(input, out);
    }
    return out;
  }

  /**
   * A visitor id for events that carry none: stable within one local day of the site's zone, as
   * its salt changes at the site's local midnight (contract 9), so such a visitor is one visitor
   * per local day. One salt per zone in use, dropped when its day is over.
   */
  visitorId(siteId: string, ip: string | undefined, userAgent: string | undefined, zone = 'UTC'): string {
    const slot = this.daySlotAt(zone, this.now());
    const salt = this.saltOf(slot);
    // A request's events share their client: one HMAC per client and day, not per event.
    const input = `visitor\u0000${siteId}\u0000${ip ?? ''}\u0000${userAgent ?? ''}`;
    const ids = (slot.ids ??= new Map());
    let id = ids.get(input);
    if (id === undefined) {
      id = `h-${createHmac('sha256', salt).update(input).digest('hex').slice(0, 16)}`;
      if (ids.size >= 50_000) ids.clear();
      ids.set(input, id);
    }
    return id;
  }

  private ipSlotAt(t: number): Slot {
    const slot = this.ipSlot;
    if (slot && t >= slot.start && t < slot.end) return slot;
    const period = Math.floor(t / this.rotationMs);
    this.cache.clear();
    this.ipSlot = { name: `ip:${this.rotationMs}:${period}`, start: period * this.rotationMs, end: (period + 1) * this.rotationMs };
    return this.ipSlot;
  }

  private daySlotAt(zone: string, t: number): Slot {
    const slot = this.days.get(zone);
    if (slot && t >= slot.start && t < slot.end) return slot;
    const calendar = Calendar.of(zone);
    const start = calendar.floor(t, 'day');
    const next = { name: `visitor:${zone}:${calendar.localDate(t)}`, start, end: calendar.next(start, 'day') };
    if (!slot && this.days.size >= 1_000) this.days.clear();
    this.days.set(zone, next);
    return next;
  }

  /** Starts loading a slot's salt; undefined once it is there. */
  private load(slot: Slot): Promise<void> | undefined {
    if (slot.salt) return undefined;
    if (slot.loading) return slot.loading;
    const got = this.store.salt(slot.name, slot.end + this.graceMs);
    if (Buffer.isBuffer(got)) {
      slot.salt = got;
      return undefined;
    }
    slot.loading = got.then(
      (salt) => {
        slot.salt = salt;
      },
      (err: unknown) => {
        slot.loading = undefined;
        throw err instanceof SaltUnavailableError ? err : new SaltUnavailableError(`the hashing salt could not be loaded: ${String(err)}`, err);
      },
    );
    return slot.loading;
  }

  private saltOf(slot: Slot): Buffer {
    if (!slot.salt) {
      // Loading starts here too, so the next request finds it; this one is refused.
      this.load(slot)?.catch(() => undefined);
      if (!slot.salt) throw new SaltUnavailableError(`the hashing salt ${slot.name.split(':')[0]} of this period is not loaded yet`);
    }
    return slot.salt;
  }
}
