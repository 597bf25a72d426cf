/** Listens with the registry app; port 0 picks a free port (tests), `url` tells which. */
import type { FastifyInstance } from 'fastify';
import { BaseService } from '../core/lifecycle.ts';
import { buildRegistryApp, type RegistryAppDeps } from './registry.app.ts';

export interface RegistryServerDeps extends RegistryAppDeps {
  port: number;
  host?: string;
}

export class RegistryServer extends BaseService {
  readonly name = 'registry-http';
  private app: FastifyInstance | undefined;
  private boundPort = 0;

  constructor(private readonly deps: RegistryServerDeps) {
    super();
  }

  get url(): string {
    return `http://${this.deps.host ?? '127.0.0.1'}:${this.boundPort}`;
  }

  protected async onStart(): Promise<void> {
    const app = buildRegistryApp(this.deps);
    await app.listen({ port: this.deps.port, host: this.deps.host ?? '127.0.0.1' });
    const addr = app.server.address();
    this.boundPort = addr && typeof addr === 'object' ? addr.port : this.deps.port;
    this.app = app;
    this.deps.logger.info({ event: 'registry_listening', url: this.url });
  }

  protected async onStop(): Promise<void> {
    await this.app?.close();
    this.app = undefined;
  }
}
