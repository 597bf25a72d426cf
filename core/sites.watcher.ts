/**
 * Running services pick up an edited sites file without a restart: the file is polled (its
 * metadata, every SITES_RELOAD_INTERVAL), re-read and validated on a change, and swapped into the
 * `Sites` object every request reads. A file that does not validate (or fails `check`, such as the
 * demo keys on a public address) is refused with a log line; the sites loaded before stay.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { errorMessage } from './errors.ts';
import { BaseService } from './lifecycle.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { loadSites, type Sites } from './sites.ts';

export interface SitesWatcherOptions {
  file: string;
  sites: Sites;
  intervalMs: number;
  logger: Logger;
  metrics?: Metrics;
  /** Throws when the new sites must not be served (the check the service ran at start). */
  check?: (next: Sites) => void;
}

export class SitesWatcher extends BaseService {
  readonly name = 'sites-watcher';
  private readonly listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) this.reload();
  };
  private readonly reloads;

  constructor(private readonly o: SitesWatcherOptions) {
    super();
    this.reloads = o.metrics?.counter('sites_reloads_total', 'Reloads of the sites file, by result (applied, refused)', ['result']);
  }

  /** Re-reads the file now; true when the new sites are in place. */
  reload(): boolean {
    try {
      const next = loadSites(this.o.file);
      this.o.check?.(next);
      this.o.sites.replace(next);
      this.reloads?.inc({ result: 'applied' });
      this.o.logger.info({ event: 'sites_reloaded', file: this.o.file, sites: next.ids().length }, `sites file reloaded: ${next.ids().length} sites`);
      return true;
    } catch (err) {
      this.reloads?.inc({ result: 'refused' });
      this.o.logger.error({ event: 'sites_reload_refused', file: this.o.file, err: errorMessage(err) }, 'the changed sites file was refused; the sites loaded before stay in force');
      return false;
    }
  }

  protected async onStart(): Promise<void> {
    watchFile(this.o.file, { interval: this.o.intervalMs, persistent: false }, this.listener);
  }

  protected async onStop(): Promise<void> {
    unwatchFile(this.o.file, this.listener);
  }
}
