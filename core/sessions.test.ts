import { describe, expect, it } from 'vitest';
import { assignVisits, DEFAULT_SESSION_IDLE_MS, visitId } from './sessions.ts';

const MIN = 60_000;
const ev = (visitor: string, t: number, is_bot = false) => ({ site_id: 's', visitor_id: visitor, is_bot, event_time: t });

describe("the server's visits (contract 9)", () => {
  it('continues a visit up to the idle timeout and starts one after it, in event-time order', () => {
    const events = [ev('a', 31 * MIN), ev('a', 0), ev('a', 30 * MIN), ev('a', 61 * MIN + 1)];
    const visits = assignVisits(events);
    expect(events.map((e) => visits.get(e))).toEqual([visitId('a', 0), visitId('a', 0), visitId('a', 0), visitId('a', 61 * MIN + 1)]);
  });

  it('ignores the client session id: visitors, bot flags and sites are cut apart', () => {
    const events = [ev('a', 0), ev('b', MIN), ev('a', MIN, true), { ...ev('a', MIN), site_id: 't' }];
    const visits = assignVisits(events);
    // Each starts its own visit: none continues `a`'s human visit of site s (ids are per site).
    expect(events.map((e) => visits.get(e))).toEqual([visitId('a', 0), visitId('b', MIN), visitId('a', MIN), visitId('a', MIN)]);
  });

  it('takes the timeout it is given', () => {
    const events = [ev('a', 0), ev('a', 10 * MIN)];
    expect(new Set(assignVisits(events, 5 * MIN).values()).size).toBe(2);
    expect(new Set(assignVisits(events, DEFAULT_SESSION_IDLE_MS).values()).size).toBe(1);
  });
});
