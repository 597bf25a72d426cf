import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Each service owns one Registry (never the global one), so a worker that is stopped and
 * started again, or two workers in one test process, never register a metric twice.
 */
export class Metrics {
  readonly registry: Registry;
  private readonly prefix: string;

  constructor(prefix = 'twinlane_', options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    this.registry = new Registry();
    this.prefix = prefix;
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name) ?? new Counter({ name: this.prefix + name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.existing(name) ?? new Gauge({ name: this.prefix + name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge whose values `collect` sets at each scrape (a value read from another system, say). */
  collectedGauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect: (gauge: Gauge<L>) => Promise<void>): Gauge<L> {
    return (
      this.existing(name) ??
      new Gauge({
        name: this.prefix + name,
        help,
        labelNames,
        registers: [this.registry],
        async collect() {
          await collect(this);
        },
      })
    );
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return (
      this.existing(name) ??
      new Histogram({ name: this.prefix + name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) })
    );
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private existing<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(this.prefix + name) as T | undefined;
  }
}

/** Latency buckets in seconds, from 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * A tiny `/metrics` endpoint for workers that have no HTTP server of their own.
 * Port 0 picks a free port; `address()` tells which.
 */
export class MetricsServer {
  private server: Server | undefined;
  constructor(
    private readonly metrics: Metrics,
    private readonly port: number,
    private readonly host = '127.0.0.1',
    /** What /readyz answers: 200 when ready, else 503 with the reason (a paused writer says why). */
    private readonly readiness: () => { ready: boolean; reason?: string } = () => ({ ready: true }),
  ) {}

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.metrics
          .text()
          .then((body) => {
            res.writeHead(200, { 'content-type': this.metrics.contentType });
            res.end(body);
          })
          .catch((err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          });
      } else if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (req.url === '/readyz') {
        const r = this.readiness();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(r) + '\n');
      } else {
        res.writeHead(404);
        res.end('not found: try /metrics, /healthz or /readyz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.server = server;
  }

  address(): number {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? addr.port : this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
