/**
 * Visits (sessions) as the server defines them (contract 9), the one statement of the rule for
 * TypeScript code (batch/views.sql.ts states the same in SQL): per site, visitor and bot flag,
 * events in event-time order; a visit ends after `idleMs` without an event (SESSION_IDLE_TIMEOUT,
 * default 30 minutes), so an event more than idleMs after the visitor's previous one starts a new
 * visit. Whatever session id a client sends (one tab or several, none from a server-side event) is
 * ignored for counting. A visit is named by its visitor and start time, deterministically, so every
 * store that sees the same events names the same visits.
 */

/** Contract 9's default idle timeout. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;
/**
 * The shortest idle timeout: a minute. No two events of one minute are a minute apart, so a
 * visitor's minute never holds the end of a visit, which the batch job's cut relies on (it cuts on
 * visitor minutes, not events: batch/views.sql.ts dayMinutesSql).
 */
export const MIN_SESSION_IDLE_MS = 60_000;

/** The id of the visit of `visitor` that started at `startMs` (epoch ms). */
export function visitId(visitor: string, startMs: number): string {
  return `${visitor}@${startMs}`;
}

interface VisitEvent {
  site_id: string;
  visitor_id: string;
  is_bot: boolean;
  event_time: number;
}

/** The visit id of every event of `events` (the whole list decides where visits start). */
export function assignVisits<E extends VisitEvent>(events: readonly E[], idleMs = DEFAULT_SESSION_IDLE_MS): Map<E, string> {
  const byVisitor = new Map<string, E[]>();
  for (const e of events) {
    const k = `${e.site_id}\u0000${e.visitor_id}\u0000${e.is_bot ? 1 : 0}`;
    let list = byVisitor.get(k);
    if (!list) byVisitor.set(k, (list = []));
    list.push(e);
  }
  const out = new Map<E, string>();
  for (const list of byVisitor.values()) {
    list.sort((a, b) => a.event_time - b.event_time);
    let start = 0;
    let prev = -Infinity;
    for (const e of list) {
      if (e.event_time - prev > idleMs) start = e.event_time;
      prev = e.event_time;
      out.set(e, visitId(e.visitor_id, start));
    }
  }
  return out;
}
