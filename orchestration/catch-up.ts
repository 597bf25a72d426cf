/**
 * Catch-up of cron slots missed while no scheduler ran: the latest slot after the last one
 * the ledger knows, found by walking back from now. Missed slots of one job are coalesced
 * into one run: every job here works from state (dirty days, old partitions), not from its slot.
 */
export interface SlotMatcher {
  match(date: Date): boolean;
}

/** Seconds when the expression has six fields (node-cron's optional seconds), else minutes. */
export function cronStepMs(expression: string): number {
  return expression.trim().split(/\s+/).length >= 6 ? 1_000 : 60_000;
}

/**
 * The latest slot in (since, now] that the matcher accepts, or undefined. `since` is the later
 * of the job's last recorded slot and the last heartbeat of any scheduler: slots before it had
 * a scheduler alive to fire them. Without either, no scheduler ever ran here, so nothing was
 * missed. The walk stops after `maxSteps` (default: 8 days of minutes), bounding start-up time.
 */
export function lastMissedSlot(matcher: SlotMatcher, since: number | undefined, now: number, stepMs: number, maxSteps = 11_520): number | undefined {
  if (since === undefined) return undefined;
  let t = Math.floor(now / stepMs) * stepMs;
  for (let i = 0; i < maxSteps && t > since; i++, t -= stepMs) {
    if (matcher.match(new Date(t))) return t;
  }
  return undefined;
}
