/**
 * Entry point of the serving API and dashboard: `node --import tsx serving/serving.main.ts`
 * (or `twinlane serving start`). Listens on SERVING_PORT, serves /metrics itself, and stops
 * gracefully on SIGINT/SIGTERM: HTTP first (in-flight requests finish), then the stores.
 */
import { fileURLToPath } from 'node:url';
import { httpLimitsOf } from '../core/http-limits.ts';
import { loadSites, refuseDemoKeysInPublic, type Sites } from '../core/sites.ts';
import { SitesWatcher } from '../core/sites.watcher.ts';
import { loadConfig, type ConfigValues } from '../core/config.ts';
import { BaseService, runServices } from '../core/lifecycle.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { buildServingApp, type ServingApp } from '../serving/index.ts';
import { guardDataFormats } from './data-format.guard.ts';
import { createServingRuntime, type ServingRuntime } from './serving.runtime.ts';

export class ServingHttpService extends BaseService {
  readonly name = 'serving-http';
  private serving: ServingApp | undefined;
  private runtime: ServingRuntime | undefined;
  private sitesWatcher: SitesWatcher | undefined;

  constructor(private readonly config: ConfigValues, private readonly logger: Logger, private readonly port = config.SERVING_PORT, private readonly host = config.SERVING_HOST) {
    super();
  }

  /** The port actually bound (useful with port 0). */
  get address(): number {
    const a = this.serving?.app.server.address();
    return a && typeof a === 'object' ? a.port : this.port;
  }

  protected async onStart(): Promise<void> {
    refuseDemoKeysInPublic('the serving API', this.host, loadSites(this.config.SITES_FILE), this.config.ALLOW_DEMO_KEYS);
    this.runtime = createServingRuntime(this.config);
    const metrics = new Metrics('twinlane_', { defaultMetrics: true, labels: { service: 'serving' } });
    this.serving = await buildServingApp({ ...this.runtime.deps, logger: this.logger, metrics, httpLimits: httpLimitsOf(this.config), rateLimit: { limits: { client: this.config.SERVING_RATE_LIMIT_CLIENT, site: this.config.SERVING_RATE_LIMIT_SITE }, redis: this.runtime.redis, keyPrefix: 'tl:' }, options: { speedCacheMs: this.config.SERVING_SPEED_CACHE, cacheBytes: this.config.SERVING_CACHE_BYTES, adminKey: this.config.SERVING_ADMIN_KEY || undefined } });
    await this.serving.app.listen({ port: this.port, host: this.host });
    const check = (next: Sites) => refuseDemoKeysInPublic('the serving API', this.host, next, this.config.ALLOW_DEMO_KEYS);
    this.sitesWatcher = new SitesWatcher({ file: this.config.SITES_FILE, sites: this.runtime.sites, intervalMs: this.config.SITES_RELOAD_INTERVAL, logger: this.logger, metrics, check });
    await this.sitesWatcher.start();
    this.logger.info({ event: 'serving_listening', port: this.address }, `serving API and dashboard on http://127.0.0.1:${this.address}/dashboard/<site>`);
  }

  protected async onStop(): Promise<void> {
    await this.sitesWatcher?.stop();
    await this.serving?.app.close();
    await this.runtime?.close();
    this.serving = undefined;
    this.runtime = undefined;
  }
}

export async function main(port?: number): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.LOG_PRETTY }, 'serving');
  // It reads both stores: refusing here beats serving numbers read in the wrong format.
  await guardDataFormats(config, { role: 'serving', stores: ['data-dir', 'speed-store'], logger });
  await runServices([new ServingHttpService(config, logger, port ?? config.SERVING_PORT)], logger);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
