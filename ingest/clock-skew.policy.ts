/**
 * Contract 9, applied here and nowhere else: an event time may lie at most `futureMs` after
 * and `pastMs` before the time the collector received it. Outside that window the policy
 * either replaces the event time by the received time and flags the event (`adjust`), or
 * dead-letters it (`dead-letter`). An event without a time takes the received time, unflagged.
 */
import { formatDuration } from '../core/durations.ts';
import { deadLetter, ok, type Outcome } from '../dlq/index.ts';

export interface ClockSkewOptions {
  futureMs: number;
  pastMs: number;
  policy: 'adjust' | 'dead-letter';
}

export interface EventTime {
  eventTime: number;
  adjusted: boolean;
}

/** 90061000 → "1.0 days": readable in a rejection message. */
function roughly(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} days`;
}

export function applyClockSkew(claimed: number | undefined, receivedAt: number, o: ClockSkewOptions): Outcome<EventTime> {
  if (claimed === undefined) return ok({ eventTime: receivedAt, adjusted: false });
  const ahead = claimed - receivedAt;
  if (ahead <= o.futureMs && -ahead <= o.pastMs) return ok({ eventTime: claimed, adjusted: false });
  if (o.policy === 'adjust') return ok({ eventTime: receivedAt, adjusted: true });
  const what = ahead > 0 ? `${roughly(ahead)} in the future (at most ${formatDuration(o.futureMs)} allowed)` : `${roughly(-ahead)} in the past (at most ${formatDuration(o.pastMs)} allowed)`;
  return deadLetter('validate', 'CLOCK_SKEW', `ts: event time ${new Date(claimed).toISOString()} is ${what}`, 'ts');
}
