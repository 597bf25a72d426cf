/**
 * Buckets in a site's time zone (contract 9): hour, day, ISO week (Monday) and month boundaries as
 * instants, from the IANA rules this Node's Intl carries (its ICU time-zone data), so DST days have
 * 23 or 25 hours and zones with half- and quarter-hour offsets (Asia/Kolkata, Asia/Kathmandu) cut
 * their hours at :30 and :45 UTC. Stores keep event time in UTC; only bucket edges and local dates
 * go through here.
 *
 * A bucket starts where the local wall clock reads a whole unit: a whole hour (hour grain; a
 * repeated hour after a DST fall-back is two buckets, each starting on its own whole hour), the
 * first moment of a local date (day; where midnight is skipped by DST, the day starts when the
 * clock jumps), of a Monday (week), or of the 1st (month). Minutes are UTC minutes: every offset
 * in use since 1972 is a whole number of minutes.
 */
import { isoTime } from './iso-time.ts';
import { UsageError } from './errors.ts';

export type CalendarGrain = 'minute' | 'hour' | 'day' | 'week' | 'month';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** No zone's offset lies outside ±14 h; a transition happens at most a few times a year. */
const MAX_OFFSET = 14 * HOUR;

/** True when `name` is a time zone this runtime knows (IANA names, `UTC`, `Etc/GMT+5`...). */
export function isTimeZone(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** A local wall time that does not exist in a zone (skipped by a DST change), or a bad date. */
export class LocalTimeError extends UsageError {
  constructor(message: string) {
    super('BAD_LOCAL_TIME', message);
  }
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const mod = (a: number, b: number) => ((a % b) + b) % b;

export class Calendar {
  private static readonly cache = new Map<string, Calendar>();
  /** The zone's canonical spelling, as answers name it. */
  readonly zone: string;
  /** UTC (or a fixed zero offset): every edge is arithmetic. */
  readonly utc: boolean;
  private readonly format: Intl.DateTimeFormat;
  /** Offset per quarter-hour slot, for slots far from any transition (bounded: cleared when full). */
  private readonly offsets = new Map<number, number>();

  private constructor(zone: string) {
    this.format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    this.zone = this.format.resolvedOptions().timeZone;
    this.utc = ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Etc/Zulu', 'Etc/Greenwich'].includes(this.zone);
  }

  /** The calendar of `zone` (default UTC); throws LocalTimeError naming an unknown zone. */
  static of(zone = 'UTC'): Calendar {
    let c = Calendar.cache.get(zone);
    if (!c) {
      if (!isTimeZone(zone)) throw new LocalTimeError(`unknown time zone ${JSON.stringify(zone.slice(0, 64))}: expected an IANA name such as Europe/Berlin or America/New_York`);
      c = new Calendar(zone);
      if (Calendar.cache.size > 1_000) Calendar.cache.clear();
      Calendar.cache.set(zone, c);
    }
    return c;
  }

  /** Local wall time minus UTC at instant `t`, in ms. */
  offsetAt(t: number): number {
    if (this.utc) return 0;
    const slot = Math.floor(t / (15 * MINUTE));
    const cached = this.offsets.get(slot);
    if (cached !== undefined) return cached;
    const p: Record<string, number> = {};
    for (const part of this.format.formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
    const second = Math.floor(t / 1000) * 1000;
    const off = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - second;
    // Transitions fall on quarter hours (UTC), so one offset holds for the whole slot.
    if (this.offsets.size > 50_000) this.offsets.clear();
    this.offsets.set(slot, off);
    return off;
  }

  /** Local wall time of `t`, as epoch ms of the same wall time in UTC. */
  wall(t: number): number {
    return t + this.offsetAt(t);
  }

  /**
   * The instants whose local wall time is `wall` (0 in a DST gap, 2 in a repeated hour), earliest
   * first. Only the offsets around `wall` can apply.
   */
  instantsOf(wall: number): number[] {
    if (this.utc) return [wall];
    const offsets = new Set([this.offsetAt(wall - MAX_OFFSET), this.offsetAt(wall), this.offsetAt(wall + MAX_OFFSET), this.offsetAt(wall - DAY), this.offsetAt(wall + DAY)]);
    const out = new Set<number>();
    for (const o of offsets) if (this.offsetAt(wall - o) === o) out.add(wall - o);
    return [...out].sort((a, b) => a - b);
  }

  /** The first instant whose wall time is at or after `wall` (the end of a DST gap when `wall` is in one). */
  private firstAtOrAfter(wall: number): number {
    const exact = this.instantsOf(wall);
    if (exact.length) return exact[0]!;
    // In a gap: bisect for the transition, between the instant `wall` would be under the later
    // offset (before the gap) and under the earlier one (after it).
    let lo = wall - MAX_OFFSET;
    let hi = wall + MAX_OFFSET;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.wall(mid) >= wall) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** Start of the bucket holding `t`. */
  floor(t: number, grain: CalendarGrain): number {
    if (grain === 'minute') return Math.floor(t / MINUTE) * MINUTE;
    if (this.utc && grain !== 'week' && grain !== 'month') return Math.floor(t / (grain === 'hour' ? HOUR : DAY)) * (grain === 'hour' ? HOUR : DAY);
    if (grain === 'hour') return this.floorHour(t);
    return this.firstAtOrAfter(this.floorWall(this.wall(t), grain));
  }

  /** The latest instant ≤ t whose wall clock reads a whole hour. */
  private floorHour(t: number): number {
    for (let probe = t, i = 0; i < 8; i++) {
      const off = this.offsetAt(probe);
      const c = probe - mod(probe + off, HOUR);
      if (this.offsetAt(c) === off) return c;
      // A transition lies in (c, probe]: no whole hour under this offset there; look before it.
      let lo = c;
      let hi = probe;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (this.offsetAt(mid) === off) hi = mid;
        else lo = mid;
      }
      probe = hi - 1;
    }
    throw new Error(`no hour boundary found before ${new Date(t).toISOString()} in ${this.zone}`);
  }

  /** The wall time (as UTC ms) where the day, week or month holding wall time `w` begins. */
  private floorWall(w: number, grain: 'day' | 'week' | 'month'): number {
    const day = w - mod(w, DAY);
    if (grain === 'day') return day;
    if (grain === 'week') return day - mod(new Date(day).getUTCDay() - 1, 7) * DAY;
    const d = new Date(day);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }

  /** Start of the bucket after the one starting at (or holding) `start`. */
  next(start: number, grain: CalendarGrain): number {
    const b = this.floor(start, grain);
    if (grain === 'minute') return b + MINUTE;
    if (this.utc && (grain === 'hour' || grain === 'day')) return b + (grain === 'hour' ? HOUR : DAY);
    if (grain === 'hour') {
      // One offset over the hour (the usual case): the next whole hour is an hour away.
      const off = this.offsetAt(b);
      if (this.offsetAt(b + HOUR) === off && this.offsetAt(b + HOUR - 1) === off) return b + HOUR;
      // Buckets last 30 to 90 minutes around a transition: step in quarter hours to the next edge.
      for (let y = b + 15 * MINUTE; ; y += 15 * MINUTE) {
        const f = this.floorHour(y);
        if (f > b) return f;
      }
    }
    const w = this.floorWall(this.wall(b), grain);
    const d = new Date(w);
    const nextWall = grain === 'day' ? w + DAY : grain === 'week' ? w + 7 * DAY : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    return this.firstAtOrAfter(nextWall);
  }

  /** Starts of the buckets that overlap [from, to), in order. */
  buckets(from: number, to: number, grain: CalendarGrain): number[] {
    const out: number[] = [];
    for (let b = this.floor(from, grain); b < to; b = this.next(b, grain)) out.push(b);
    return out;
  }

  /** The first instant at or after `t` that starts a bucket (t itself when it does). */
  ceil(t: number, grain: CalendarGrain): number {
    const f = this.floor(t, grain);
    return f === t ? t : this.next(f, grain);
  }

  /**
   * The whole local days within batch's coverage (UTC days, the last maybe computed up to some
   * zone's local midnight): from its first local midnight to its last one; null when none.
   */
  wholeDays(span: { from: number; to: number }): { from: number; to: number } | null {
    const from = this.ceil(span.from, 'day');
    const to = this.floor(span.to, 'day');
    return from < to ? { from, to } : null;
  }

  /** The first moment of local date `date` (YYYY-MM-DD). */
  startOfDate(date: string): number {
    const m = DATE.exec(date);
    const wall = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
    if (!m || Number.isNaN(wall) || new Date(wall).toISOString().slice(0, 10) !== date) throw new LocalTimeError(`${JSON.stringify(date.slice(0, 40))} is not a date (expected YYYY-MM-DD)`);
    return this.firstAtOrAfter(wall);
  }

  /**
   * The instant of a local wall time given as `YYYY-MM-DDTHH:MM[:SS[.mmm]]` without an offset;
   * a time skipped by a DST change is refused, and a repeated one is its first occurrence.
   */
  instantOfLocal(text: string): number {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(text);
    if (!m) throw new LocalTimeError(`${JSON.stringify(text.slice(0, 40))} is not a local time (expected YYYY-MM-DDTHH:MM)`);
    const [y, mo, d, h, mi, s, ms] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number, number];
    const wall = Date.UTC(y, mo - 1, d, h, mi, s, Number(String(m[7] ?? '0').padEnd(3, '0')));
    const back = new Date(wall);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59 || ms < 0) throw new LocalTimeError(`${JSON.stringify(text)} is not a valid local time`);
    const at = this.instantsOf(wall);
    if (at.length === 0) throw new LocalTimeError(`${text} does not exist in ${this.zone}: the clocks skip it (a DST change)`);
    return at[0]!;
  }

  /** The local date (YYYY-MM-DD) holding `t`. */
  localDate(t: number): string {
    return new Date(this.wall(t)).toISOString().slice(0, 10);
  }

  /** `t` as a local ISO date-time with its offset, e.g. 2026-03-08T03:00:00-04:00. */
  localIso(t: number): string {
    const off = this.offsetAt(t);
    const wall = isoTime(t + off).slice(0, 19);
    if (off === 0 && this.utc) return `${wall}Z`;
    const a = Math.abs(off) / MINUTE;
    return `${wall}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
  }
}
