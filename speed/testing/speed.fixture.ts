/** Ground truth for tests and benchmarks: exact figures computed from the events sent. */
import { generateTraffic, type TrafficOptions } from '../../traffic/index.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';

export interface MinuteTruth {
  pageviews: number;
  events: number;
  purchases: number;
  revenue: number;
  bot_pageviews: number;
}

export function traffic(o: Partial<TrafficOptions> & { events: number }): TwinlaneEvent[] {
  const now = Date.now();
  return [...generateTraffic({ seed: 42, sites: ['alpha', 'beta', 'gamma'], from: now - 60 * 60_000, to: now - 60_000, visitorsPerSite: 3_000, ...o })];
}

/** Per site, per minute start (epoch ms): exact counters. */
export function truthByMinute(events: readonly TwinlaneEvent[]): Map<string, Map<number, MinuteTruth>> {
  const out = new Map<string, Map<number, MinuteTruth>>();
  for (const e of events) {
    let site = out.get(e.site_id);
    if (!site) out.set(e.site_id, (site = new Map()));
    const start = Math.floor(e.event_time / 60_000) * 60_000;
    let t = site.get(start);
    if (!t) site.set(start, (t = { pageviews: 0, events: 0, purchases: 0, revenue: 0, bot_pageviews: 0 }));
    if (e.is_bot) {
      if (e.type === 'pageview') t.bot_pageviews++;
    } else if (e.type === 'pageview') t.pageviews++;
    else if (e.type === 'custom') t.events++;
    else {
      t.purchases++;
      t.revenue += e.revenue_micros ?? 0;
    }
  }
  return out;
}

export function distinctVisitors(events: readonly TwinlaneEvent[], site: string, pred: (e: TwinlaneEvent) => boolean = () => true): number {
  return new Set(events.filter((e) => e.site_id === site && !e.is_bot && pred(e)).map((e) => e.visitor_id)).size;
}
