/**
 * Warns when a site's dead-letter rate crosses DLQ_ALERT_RATE: a broken tracker on one site
 * shows up as a log line and a gauge long before anyone reads the DLQ.
 *
 * Only a stage that sees both the accepted and the rejected records of a site can judge its
 * rate (the collector per request, a consumer per batch), so they feed this monitor; the DLQ
 * archiver alone sees only the failures.
 */
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';

export interface SiteRateMonitorOptions {
  /** Warn when dead-lettered / total of a site in one window is above this fraction. */
  alertRate: number;
  /** Tumbling window length. */
  windowMs?: number;
  /** Windows with fewer records than this are not judged (3 bad of 4 is noise). */
  minRecords?: number;
  /** Name of the stage feeding the monitor (metric label). */
  stage: string;
  metrics: Metrics;
  logger: Logger;
}

interface Window {
  start: number;
  total: number;
  deadLettered: number;
  warned: boolean;
}

export class SiteRateMonitor {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly minRecords: number;
  private readonly rateGauge;
  private readonly alerts;

  constructor(private readonly options: SiteRateMonitorOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.minRecords = options.minRecords ?? 20;
    this.rateGauge = options.metrics.gauge('site_dead_letter_rate', 'Dead-letter share of a site in the last complete or current window', ['stage', 'site']);
    this.alerts = options.metrics.counter('site_dead_letter_alerts_total', 'Windows in which a site crossed DLQ_ALERT_RATE', ['stage', 'site']);
  }

  /** Adds a site's records; returns true when this call raised the site's warning. */
  observe(siteId: string, total: number, deadLettered: number, now = Date.now()): boolean {
    const start = now - (now % this.windowMs);
    let w = this.windows.get(siteId);
    if (!w || w.start !== start) {
      w = { start, total: 0, deadLettered: 0, warned: false };
      this.windows.set(siteId, w);
    }
    w.total += total;
    w.deadLettered += deadLettered;
    const rate = w.total === 0 ? 0 : w.deadLettered / w.total;
    this.rateGauge.set({ stage: this.options.stage, site: siteId }, rate);
    if (w.warned || w.total < this.minRecords || rate <= this.options.alertRate) return false;
    w.warned = true;
    this.alerts.inc({ stage: this.options.stage, site: siteId });
    this.options.logger.warn(
      { event: 'site_dead_letter_rate', alert: true, stage: this.options.stage, site: siteId, rate: Number(rate.toFixed(4)), threshold: this.options.alertRate, total: w.total, dead_lettered: w.deadLettered, window_ms: this.windowMs },
      `site ${siteId}: ${w.deadLettered} of ${w.total} records dead-lettered (${(rate * 100).toFixed(1)}% > ${(this.options.alertRate * 100).toFixed(1)}%)`,
    );
    return true;
  }

  /** The current window of a site (total and dead-lettered records), for status and tests. */
  current(siteId: string, now = Date.now()): { total: number; deadLettered: number } {
    const w = this.windows.get(siteId);
    return w && w.start === now - (now % this.windowMs) ? { total: w.total, deadLettered: w.deadLettered } : { total: 0, deadLettered: 0 };
  }

  /** Convenience for a batch: counts per site of every record and of the dead-lettered ones. */
  observeBatch(totals: ReadonlyMap<string, number>, deadLettered: ReadonlyMap<string, number>, now = Date.now()): string[] {
    const warned: string[] = [];
    for (const [site, total] of totals) if (this.observe(site, total, deadLettered.get(site) ?? 0, now)) warned.push(site);
    return warned;
  }
}
