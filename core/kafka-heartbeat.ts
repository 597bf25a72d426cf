/**
 * Group heartbeats. kafkajs has no background heartbeat: a member heartbeats only when its run
 * loop (or a batch handler) calls `heartbeat()`, and it learns of a rebalance only from a
 * heartbeat's answer. So how soon a survivor takes over a dead member's partitions is the dead
 * member's session timeout plus up to one heartbeat interval: the interval is kept to a second
 * (a heartbeat is one small request), and a batch that waits (a roll, a full Redis) heartbeats
 * on a timer so a short session timeout never evicts a live but busy member.
 */

/** A sixth of the session timeout, between half a second and one second. */
export function heartbeatIntervalOf(sessionTimeoutMs: number): number {
  return Math.max(500, Math.min(1_000, Math.floor(sessionTimeoutMs / 6)));
}

/**
 * Runs `work` while heartbeating every `intervalMs`. A failed heartbeat (the group rebalancing)
 * is left to the run loop, whose next heartbeat meets the same answer and rejoins.
 */
export async function withHeartbeats<T>(heartbeat: () => Promise<void>, intervalMs: number, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), intervalMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
