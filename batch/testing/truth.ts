/**
 * Ground truth for the batch views, computed in plain TypeScript from the generated events
 * (never with the job's SQL): dedupe by event id, then the metric definitions of contract 7.
 */
import type { Dimension, Grain, Metric } from '../../core/views.ts';
import { GRAIN_MS } from '../../core/views.ts';
import type { TwinlaneEvent } from '../../schemas/index.ts';

export function dedupe(events: Iterable<TwinlaneEvent>): TwinlaneEvent[] {
  const seen = new Map<string, TwinlaneEvent>();
  for (const e of events) if (!seen.has(e.event_id)) seen.set(e.event_id, e);
  return [...seen.values()];
}

export function label(e: TwinlaneEvent, d: Dimension): string {
  const labels: Record<Dimension, string> = {
    page: e.path,
    referrer: e.referrer_host ?? '(direct)',
    country: e.country ?? '(unknown)',
    device: e.device_type,
    browser: e.browser ?? '(unknown)',
    os: e.os ?? '(unknown)',
    utm_source: e.utm_source ?? '(none)',
    event_name: e.name,
  };
  return labels[d];
}

export function truthMetrics(events: readonly TwinlaneEvent[]): Record<Metric, number> {
  let pageviews = 0;
  let bots = 0;
  let customs = 0;
  let purchases = 0;
  let revenueMicros = 0;
  const visitors = new Set<string>();
  const sessions = new Map<string, { pv: number; lo: number; hi: number }>();
  for (const e of events) {
    if (e.is_bot) {
      if (e.type === 'pageview') bots++;
      continue;
    }
    visitors.add(e.visitor_id);
    const s = sessions.get(e.session_id) ?? { pv: 0, lo: e.event_time, hi: e.event_time };
    s.lo = Math.min(s.lo, e.event_time);
    s.hi = Math.max(s.hi, e.event_time);
    if (e.type === 'pageview') {
      pageviews++;
      s.pv++;
    } else if (e.type === 'custom') customs++;
    else {
      purchases++;
      revenueMicros += e.revenue_micros ?? 0;
    }
    sessions.set(e.session_id, s);
  }
  const list = [...sessions.values()];
  return {
    pageviews,
    visitors: visitors.size,
    sessions: list.length,
    events: customs,
    purchases,
    revenue: Math.round(revenueMicros / 10_000) / 100,
    bounce_rate: list.length ? list.filter((s) => s.pv <= 1).length / list.length : 0,
    visit_duration: list.length ? list.reduce((n, s) => n + (s.hi - s.lo), 0) / 1000 / list.length : 0,
    bot_pageviews: bots,
  };
}

/** Metrics per bucket start for one site and grain over [from, to). */
export function truthSeries(events: readonly TwinlaneEvent[], site: string, grain: Grain, from: number, to: number): Map<number, Record<Metric, number>> {
  const step = GRAIN_MS[grain];
  const buckets = new Map<number, TwinlaneEvent[]>();
  for (let t = from; t < to; t += step) buckets.set(t, []);
  for (const e of events) if (e.site_id === site && e.event_time >= from && e.event_time < to) buckets.get(Math.floor(e.event_time / step) * step)!.push(e);
  return new Map([...buckets].map(([t, evs]) => [t, truthMetrics(evs)]));
}
