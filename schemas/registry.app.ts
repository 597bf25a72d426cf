/**
 * The Confluent Schema Registry REST API over a RegistryStore. `buildRegistryApp` never listens:
 * tests call `inject()`, RegistryServer listens. Every error body is Confluent's
 * `{ error_code, message }` from registry.errors.ts.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.ts';
import { LATENCY_BUCKETS, type Metrics } from '../core/metrics.ts';
import { parseSchema, type ParsedSchema } from './avro-schema.ts';
import { RegistryError, registryErrors } from './registry.errors.ts';
import type { RegistryStore } from './registry.store.ts';
import { isCompatibilityLevel, type CommandOutcome, type CompatibilityLevel, type VersionRef } from './types.ts';

export interface RegistryAppDeps {
  store: RegistryStore;
  metrics: Metrics;
  logger: Logger;
  /** Largest request body; schemas are small, but Confluent allows a few MB. */
  bodyLimit?: number;
}

export const REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const ACCEPTED_TYPES = ['application/vnd.schemaregistry.v1+json', 'application/vnd.schemaregistry+json', 'application/octet-stream'];

type Params = { subject: string; version: string; id: string };
type Query = { deleted?: string; permanent?: string; defaultToGlobal?: string; verbose?: string; subjectPrefix?: string };
type Req = FastifyRequest<{ Params: Params; Querystring: Query; Body: unknown }>;

const flag = (v: string | undefined): boolean => v === 'true';

function versionRef(raw: string): VersionRef | RegistryError {
  if (raw === 'latest' || raw === '-1') return 'latest';
  if (!/^\d{1,10}$/.test(raw)) return registryErrors.invalidVersion(raw);
  const n = Number(raw);
  return n >= 1 && n <= 2 ** 31 - 1 ? n : registryErrors.invalidVersion(raw);
}

function schemaId(raw: string): number | RegistryError {
  return /^\d{1,10}$/.test(raw) && Number(raw) >= 1 ? Number(raw) : registryErrors.schemaNotFound(`Schema ${raw} not found`);
}

/** The `schema` of a request body, parsed, or the 422 that explains why it cannot be. */
function bodySchema(body: unknown): ParsedSchema | RegistryError {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return registryErrors.invalidSchema('the body must be a JSON object with a "schema" field');
  const { schema, schemaType, references } = body as { schema?: unknown; schemaType?: unknown; references?: unknown };
  if (schemaType !== undefined && schemaType !== null && schemaType !== 'AVRO') {
    return registryErrors.invalidSchema(`schemaType ${JSON.stringify(schemaType)} is not supported by this registry (AVRO only)`);
  }
  if (Array.isArray(references) && references.length > 0) return registryErrors.invalidSchema('schema references are not supported by this registry');
  return parseSchema(schema);
}

function unwrap<T>(outcome: CommandOutcome<T>): T {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

function check<T>(value: T | RegistryError): T {
  if (value instanceof RegistryError) throw value;
  return value;
}

export function buildRegistryApp(deps: RegistryAppDeps): FastifyInstance {
  const { store, metrics, logger } = deps;
  const app = Fastify({ bodyLimit: deps.bodyLimit ?? 4 * 1024 * 1024 });
  app.addContentTypeParser(ACCEPTED_TYPES, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  const requests = metrics.counter('registry_http_requests_total', 'Registry HTTP requests', ['method', 'route', 'status']);
  const latency = metrics.histogram('registry_http_request_seconds', 'Registry HTTP request latency', ['method', 'route'], LATENCY_BUCKETS);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  // Confluent answers in its own media type; JSON serialization still applies (it ends in +json).
  app.addHook('preHandler', async (_req, reply) => {
    reply.type(REGISTRY_CONTENT_TYPE);
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    let e: RegistryError;
    if (err instanceof RegistryError) e = err;
    else if (err.statusCode && err.statusCode < 500) e = new RegistryError(err.statusCode, err.statusCode, err.message);
    else {
      logger.error({ event: 'registry_request_failed', method: req.method, url: req.url, err });
      e = registryErrors.backendStore(err.message);
    }
    void reply.code(e.status).type(REGISTRY_CONTENT_TYPE).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = registryErrors.routeNotFound(req.method, req.url);
    void reply.code(404).type(REGISTRY_CONTENT_TYPE).send(e.body());
  });

  app.get('/', async () => ({}));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
  app.get('/schemas/types', async () => ['AVRO']);
  app.get('/mode', async () => ({ mode: 'READWRITE' }));

  registerSubjectRoutes(app, store);
  registerSchemaRoutes(app, store);
  registerConfigRoutes(app, store);
  return app;
}

function registerSubjectRoutes(app: FastifyInstance, store: RegistryStore): void {
  app.get('/subjects', async (req: Req) => store.schemas.subjectNames(flag(req.query.deleted), req.query.subjectPrefix ?? ''));

  app.get('/subjects/:subject/versions', async (req: Req) => check(store.schemas.versionsOf(req.params.subject, flag(req.query.deleted))));

  app.get('/subjects/:subject/versions/:version', async (req: Req) => {
    const v = check(store.schemas.version(req.params.subject, check(versionRef(req.params.version)), flag(req.query.deleted)));
    return { subject: v.subject, version: v.version, id: v.id, schema: v.schema };
  });

  app.get('/subjects/:subject/versions/:version/schema', async (req: Req, reply: FastifyReply) => {
    const v = check(store.schemas.version(req.params.subject, check(versionRef(req.params.version)), flag(req.query.deleted)));
    return reply.type(REGISTRY_CONTENT_TYPE).send(v.schema);
  });

  app.get('/subjects/:subject/versions/:version/referencedby', async (req: Req) => {
    check(store.schemas.version(req.params.subject, check(versionRef(req.params.version)), true));
    return []; // references are not supported, so nothing refers to anything
  });

  app.post('/subjects/:subject/versions', async (req: Req) => {
    const parsed = check(bodySchema(req.body));
    const known = store.schemas.lookup(req.params.subject, parsed);
    // The same schema again: answer from state, no write (idempotent and cheap).
    if (!(known instanceof RegistryError)) return { id: known.id };
    // Incompatible with what this instance has read: answer now rather than log a loser.
    const problems = store.schemas.problemsFor(req.params.subject, parsed);
    if (problems.length > 0) throw registryErrors.incompatible(req.params.subject, problems);
    const { id } = unwrap(await store.execute({ op: 'register', subject: req.params.subject, schema: parsed.text }));
    return { id };
  });

  app.post('/subjects/:subject', async (req: Req) => {
    const parsed = check(bodySchema(req.body));
    const v = check(store.schemas.lookup(req.params.subject, parsed, flag(req.query.deleted)));
    return { subject: v.subject, version: v.version, id: v.id, schema: v.schema };
  });

  app.delete('/subjects/:subject', async (req: Req) =>
    unwrap(await store.execute({ op: 'delete-subject', subject: req.params.subject, permanent: flag(req.query.permanent) })),
  );

  app.delete('/subjects/:subject/versions/:version', async (req: Req) => {
    const ref = check(versionRef(req.params.version));
    const permanent = flag(req.query.permanent);
    // `latest` names a concrete version before the command enters the log.
    const version = ref === 'latest' ? check(store.schemas.version(req.params.subject, 'latest', permanent)).version : ref;
    return unwrap(await store.execute({ op: 'delete-version', subject: req.params.subject, version, permanent }));
  });

  const compatibility = async (req: Req, ref: VersionRef | undefined) => {
    const parsed = check(bodySchema(req.body));
    let only: number | undefined;
    if (ref !== undefined) only = check(store.schemas.version(req.params.subject, ref)).version;
    const problems = store.schemas.problemsFor(req.params.subject, parsed, only);
    return flag(req.query.verbose) ? { is_compatible: problems.length === 0, messages: problems } : { is_compatible: problems.length === 0 };
  };
  app.post('/compatibility/subjects/:subject/versions/:version', async (req: Req) => compatibility(req, check(versionRef(req.params.version))));
  app.post('/compatibility/subjects/:subject/versions', async (req: Req) => compatibility(req, undefined));
}

function registerSchemaRoutes(app: FastifyInstance, store: RegistryStore): void {
  app.get('/schemas/ids/:id', async (req: Req) => ({ schema: check(store.schemas.schemaById(check(schemaId(req.params.id)))) }));

  app.get('/schemas/ids/:id/schema', async (req: Req, reply: FastifyReply) =>
    reply.type(REGISTRY_CONTENT_TYPE).send(check(store.schemas.schemaById(check(schemaId(req.params.id))))),
  );

  app.get('/schemas/ids/:id/versions', async (req: Req) => check(store.schemas.usesOf(check(schemaId(req.params.id)), flag(req.query.deleted))));

  app.get('/schemas/ids/:id/subjects', async (req: Req) => {
    const uses = check(store.schemas.usesOf(check(schemaId(req.params.id)), flag(req.query.deleted)));
    return [...new Set(uses.map((u) => u.subject))];
  });
}

function compatibilityFromBody(body: unknown): CompatibilityLevel {
  const level = body && typeof body === 'object' ? (body as { compatibility?: unknown }).compatibility : undefined;
  if (!isCompatibilityLevel(level)) throw registryErrors.invalidCompatibility(level);
  return level.toUpperCase() as CompatibilityLevel;
}

function registerConfigRoutes(app: FastifyInstance, store: RegistryStore): void {
  app.get('/config', async () => ({ compatibilityLevel: store.schemas.level(null) }));

  app.put('/config', async (req: Req) => {
    const compatibility = unwrap(await store.execute({ op: 'set-config', subject: null, compatibility: compatibilityFromBody(req.body) }));
    return { compatibility };
  });

  app.get('/config/:subject', async (req: Req) => {
    const own = store.schemas.subjectLevel(req.params.subject);
    if (own) return { compatibilityLevel: own };
    if (flag(req.query.defaultToGlobal)) return { compatibilityLevel: store.schemas.level(null) };
    throw registryErrors.subjectConfigNotFound(req.params.subject);
  });

  app.put('/config/:subject', async (req: Req) => {
    const level = compatibilityFromBody(req.body);
    const compatibility = unwrap(await store.execute({ op: 'set-config', subject: req.params.subject, compatibility: level }));
    return { compatibility };
  });

  app.delete('/config/:subject', async (req: Req) => {
    const previous = unwrap(await store.execute({ op: 'delete-config', subject: req.params.subject }));
    return { compatibilityLevel: previous };
  });
}
