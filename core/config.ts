/**
 * The one place that reads the environment. Entry points call `loadConfig()` once and pass
 * the typed sections to the parts they build; no other module reads `process.env`.
 *
 * Every variable has a default that works with `make stack-up`; the README lists them all
 * (generated from CONFIG_VARIABLES, and a unit test checks the two agree).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { parseDuration, parseRateRule, parseSize } from './durations.ts';
import { MIN_SESSION_IDLE_MS } from './sessions.ts';

const duration = z.string().transform((s, ctx) => {
  const v = parseDuration(s);
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 5m, 48h or 7d' });
    return z.NEVER;
  }
  return v;
});
const size = z.string().transform((s, ctx) => {
  const v = parseSize(s);
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a size such as 512kb, 1mb or 2gb' });
    return z.NEVER;
  }
  return v;
});
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`));
const port = int(0, 65535);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `expected a URL starting with ${protocols.map((p) => p + '//').join(' or ')}`);
const rateRule = z.string().transform((s, ctx) => {
  const v = parseRateRule(s);
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected off, or <requests>/<window> such as 6000/1m (window at least 1s)' });
    return z.NEVER;
  }
  return v;
});
const brokers = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')).min(1, 'expected at least one host:port'));
const hostPorts = z
  .string()
  .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')));
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'expected a Kafka topic name (letters, digits, . _ -)');

/** name → [default, schema, description]. The order is the README's. */
export const CONFIG_VARIABLES = {
  LOG_LEVEL: ['info', z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), 'Log level'],
  LOG_PRETTY: ['false', bool, 'Human-readable logs instead of JSON lines'],
  DATA_DIR: ['./data', z.string().min(1), 'Folder for the lake, batch views, dead-letter store and job ledger'],
  KAFKA_BROKERS: ['127.0.0.1:9092', brokers, 'Comma-separated Kafka bootstrap servers'],
  KAFKA_CLIENT_ID: ['twinlane', z.string().min(1), 'Kafka client id prefix'],
  KAFKA_PORT: ['9092', port, 'Port of the local broker that `make stack-up` starts'],
  KAFKA_CONTROLLER_PORT: ['9093', port, 'KRaft controller port of the local broker'],
  KAFKA_HEAP: ['1G', z.string().regex(/^\d+[mMgG]$/, 'expected a JVM heap size such as 512m or 1G'), 'Heap of the local broker'],
  KAFKA_CREATE_TOPICS: ['true', bool, 'Services create the topics they need when missing; with false a missing topic is reported by name (log, readiness) and nothing is created'],
  STACK: ['single', z.enum(['single', 'cluster']), 'Which local stack `make stack-up` manages and whose addresses fill unset variables: single (one broker, one Redis) or cluster (three KRaft brokers, a Redis Cluster of three masters and three replicas)'],
  CLUSTER_KAFKA_PORT: ['19092', port, 'First broker port of the cluster stack (brokers on it and the next two, their controllers 100 higher)'],
  CLUSTER_KAFKA_HEAP: ['512m', z.string().regex(/^\d+[mMgG]$/, 'expected a JVM heap size such as 512m or 1G'), 'Heap of each broker of the cluster stack'],
  CLUSTER_REDIS_PORT: ['17001', port, 'First Redis port of the cluster stack (six nodes on it and the next five)'],
  CLUSTER_REDIS_NODE_TIMEOUT: ['3s', duration, "cluster-node-timeout of the cluster stack's Redis nodes (how soon a dead master's replica takes over)"],
  CLUSTER_REGISTRY_PORT: ['18081', port, 'Port of the schema registry of the cluster stack'],
  KAFKA_REPLICATION_FACTOR: ['broker', z.string().regex(/^(broker|[1-9]\d?)$/, 'expected broker or a whole number from 1 to 99').transform((v) => (v === 'broker' ? -1 : Number(v))), "Replication factor of the topics a service or `make stack-up` creates (broker: the broker's default.replication.factor)"],
  EVENTS_TOPIC: ['twinlane.events', topicName, 'Topic of accepted events'],
  EVENTS_PARTITIONS: ['6', int(1, 1000), 'Partitions of the events topic when it is created'],
  DLQ_TOPIC: ['twinlane.dlq', topicName, 'Topic of dead letters'],
  DLQ_PARTITIONS: ['3', int(1, 1000), 'Partitions of the dead-letter topic when it is created'],
  SCHEMA_REGISTRY_URL: ['http://127.0.0.1:8081', url(['http:', 'https:']), 'Confluent-compatible schema registry'],
  REGISTRY_PORT: ['8081', port, 'Port of the bundled schema registry'],
  REGISTRY_TOPIC: ['_schemas', topicName, 'Compacted topic where the bundled registry stores schemas'],
  REDIS_URL: ['redis://127.0.0.1:6379', url(['redis:', 'rediss:']), 'Redis of the speed layer (started on a free port when it does not answer)'],
  REDIS_CLUSTER_NODES: ['', hostPorts, 'Comma-separated host:port of some Redis Cluster nodes; set: every service uses a Redis Cluster client (discovering the rest) instead of REDIS_URL'],
  REDIS_WAIT_TIMEOUT: ['2s', duration, "Redis Cluster: how long a speed write waits for its master's replica to acknowledge it (WAIT) before the batch is retried, so a failover never undoes a counted write"],
  SITES_FILE: ['./config/sites.json', z.string().min(1), 'Sites with their write keys, read keys and allowed origins'],
  SITES_RELOAD_INTERVAL: ['2s', duration, 'How often the collector, the serving API and the speed consumers look for a changed SITES_FILE (`twinlane sites` edits apply without a restart)'],
  COLLECTOR_PORT: ['8080', port, 'Port of the collector (POST /v1/collect, /t.js)'],
  COLLECTOR_BODY_LIMIT: ['1mb', size, 'Largest accepted request body (after decompression)'],
  COLLECTOR_MAX_EVENTS: ['1000', int(1, 100_000), 'Most events in one request'],
  COLLECTOR_LINGER: ['5ms', duration, 'How long the collector gathers events before one Kafka send'],
  COLLECTOR_PROCESSES: ['1', z.string().regex(/^(auto|[1-9]\d?)$/, 'expected auto or a whole number from 1 to 99').transform((v) => (v === 'auto' ? ('auto' as const) : Number(v))), 'Collector worker processes sharing its port (node:cluster; each has its own idempotent Kafka producer, salts and rate limits are shared in Redis); auto: one per available core'],
  COLLECTOR_HOST: ['127.0.0.1', z.string().min(1), 'Listen address of the collector (0.0.0.0: every interface; SITES_FILE must then hold keys of your own)'],
  COLLECTOR_RATE_LIMIT_CLIENT: ['6000/1m', rateRule, 'Collector requests per client address (resolved through COLLECTOR_TRUST_PROXY) and window, shared by every collector process (Redis); off: none'],
  COLLECTOR_RATE_LIMIT_SITE: ['60000/1m', rateRule, 'Collector requests per site and window, shared by every collector process; off: none'],
  COLLECTOR_KEYLESS_BUDGET: ['4mb', size, 'Bytes of dead letters a minute (per collector process) for requests refused before authentication (no or wrong key): only a sample of such input is kept'],
  COLLECTOR_KEYLESS_SAMPLE: ['4kb', size, 'Bytes kept of one request refused before authentication'],
  COLLECTOR_KEYLESS_PER_SITE: ['10', int(0, 1_000_000), 'Requests refused before authentication sampled per claimed site and minute'],
  COLLECTOR_TRUST_PROXY: ['loopback', z.string().regex(/^(true|false|[0-9a-zA-Z.:/,_ -]+)$/, 'expected true, false, or comma-separated proxy addresses/CIDRs (loopback, linklocal, uniquelocal allowed)'), 'Which peers may set X-Forwarded-For (the client IP): true, false, or addresses/CIDRs'],
  CLOCK_SKEW_FUTURE: ['10m', duration, 'How far in the future an event time may be'],
  CLOCK_SKEW_PAST: ['7d', duration, 'How far in the past an event time may be'],
  CLOCK_SKEW_POLICY: ['adjust', z.enum(['adjust', 'dead-letter']), 'Outside the window: use received time and flag it, or dead-letter'],
  IP_SALT_ROTATION: ['24h', duration, 'How often the salt used to hash IP addresses changes'],
  SESSION_IDLE_TIMEOUT: ['30m', duration.pipe(z.number().min(MIN_SESSION_IDLE_MS, 'expected at least 1m: the batch job cuts visits on visitor minutes')), 'A visit ends after this long without an event of its visitor (contract 9; speed and batch alike, whatever session id a client sends); at least 1m'],
  SPEED_GROUP: ['speed', z.string().min(1), 'Consumer group of the speed layer'],
  SPEED_TTL: ['72h', duration, "TTL of every speed-layer key in Redis: outlives the longest wait until batch covers an event (its site's local day, the batch cron's lateness, and a missed night to spare)"],
  SPEED_METRICS_PORT: ['9101', port, 'Prometheus /metrics port of the speed consumer'],
  SPEED_INSTANCES: ['2', int(1, 16), 'Speed consumer processes `make pipeline` starts (one group; instance i serves /metrics on SPEED_METRICS_PORT + 100 × i)'],
  SPEED_KEY_PREFIX: ['tl:speed', z.string().regex(/^[A-Za-z0-9:._-]{1,64}$/, 'expected 1-64 letters, digits, : . _ -'), 'Prefix of every speed-layer key in Redis'],
  SPEED_SESSION_TIMEOUT: ['10s', duration, 'Kafka session timeout of a speed consumer (how soon a dead one loses its partitions; heartbeats every sixth of it, at most 1s)'],
  SPEED_WATERMARK_REFRESH: ['5s', duration, 'How often the speed consumer re-reads the batch watermark W'],
  SPEED_COMMIT_INTERVAL: ['1s', duration, 'How often the speed consumer commits Kafka offsets (Redis holds the exact ones)'],
  SPEED_DEDUPE_WINDOW: ['10m', duration, 'How long the speed layer remembers the event ids it counted (per site and event minute), so a client retry of the same event counts once; 0: off'],
  SPEED_MAX_MEMBERS: ['1000', int(10, 1_000_000), 'Distinct pages, referrers and dimension tuples one site keeps per minute in Redis; beyond it they count under `(other)` (totals stay exact), so no client can grow Redis without bound'],
  REDIS_MAXMEMORY: ['2gb', size, "maxmemory of the Redis `make stack-up` manages (with `noeviction`: a full Redis pauses the speed consumers, it never drops keys)"],
  LAKE_GROUP: ['lake', z.string().min(1), 'Consumer group of the lake archiver'],
  LAKE_ROLL_ROWS: ['500000', int(1, 100_000_000), 'Rows after which the archiver rolls a Parquet file'],
  LAKE_ROLL_AGE: ['30s', duration, 'Age after which the archiver rolls a Parquet file'],
  IMPORT_CHUNK_ROWS: ['200000', int(1_000, 10_000_000), 'Rows per chunk of `twinlane import`: each chunk lands as its own lake files and moves the resumable checkpoint'],
  LAKE_METRICS_PORT: ['9102', port, 'Prometheus /metrics port of the lake archiver'],
  DISK_MIN_FREE: ['512mb', size, 'Free space under DATA_DIR below which the lake archiver, the dead-letter archiver and the batch job pause (Kafka keeps the records) until it returns'],
  DISK_CHECK_INTERVAL: ['5s', duration, 'How often those writers check free space under DATA_DIR'],
  LAKE_SESSION_TIMEOUT: ['8s', duration, 'Kafka session timeout of the lake archiver (how soon a dead one loses its partitions; heartbeats every sixth of it, at most 1s, also while a batch waits for a roll)'],
  BATCH_VERSIONS_KEEP: ['5', int(1, 1000), 'Batch view versions kept for rollback'],
  BATCH_MEMORY_LIMIT: ['2GB', z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB)$/i, 'expected a DuckDB memory size such as 2GB'), 'DuckDB memory_limit of the batch job'],
  BATCH_THREADS: ['2', int(1, 256), 'DuckDB threads of the batch job'],
  BATCH_ALLOWED_LATENESS: ['10m', duration, 'The nightly batch publishes a day once the lake archiver covers its end plus this on every partition'],
  BATCH_COMPLETE_WAIT: ['15m', duration, 'How long the nightly batch waits for the lake archiver to cover a day before it fails the run and leaves that day to speed'],
  DRIFT_THRESHOLD: ['0.05', z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'expected a fraction from 0 to 1').transform(Number), 'Mean relative error of a metric (speed against batch) above which the drift check fails and the speed keys of the day are kept'],
  CLICKHOUSE_URL: ['', z.union([z.literal(''), url(['http:', 'https:'])]), 'ClickHouse HTTP URL of an existing server or cluster (never managed by the stack); empty: `make stack-up` starts its own and records its URL'],
  CLICKHOUSE_DATABASE: ['twinlane', z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'expected a ClickHouse database name (letters, digits, _)'), 'ClickHouse database of the warehouse (one per DATA_DIR)'],
  CLICKHOUSE_USER: ['default', z.string().min(1), 'ClickHouse user'],
  CLICKHOUSE_PASSWORD: ['', z.string(), 'ClickHouse password'],
  WAREHOUSE_ENABLED: ['auto', z.enum(['auto', 'true', 'false']), 'Load each batch-computed day into the ClickHouse warehouse after the batch run (auto: when a ClickHouse is configured)'],
  WAREHOUSE_STREAMS: ['2', int(1, 16), 'HTTP insert streams of one day\'s load into ClickHouse'],
  BATCH_VIEWS_STORE: ['duckdb', z.enum(['duckdb', 'clickhouse']), 'Where serving reads the batch views: duckdb (the batch job\'s files in DATA_DIR, one machine) or clickhouse (published there after each batch run; serving then holds no files)'],
  CLICKHOUSE_CLUSTER: ['', z.string().regex(/^([A-Za-z_][A-Za-z0-9_]{0,63})?$/, 'expected a cluster name of remote_servers (letters, digits, _)'), 'ClickHouse cluster (remote_servers) the batch views are sharded over; empty: one server'],
  CLICKHOUSE_SHARD_URLS: ['', z.string().refine((s) => s.split(',').map((u) => u.trim()).filter(Boolean).every((u) => { try { return ['http:', 'https:'].includes(new URL(u).protocol); } catch { return false; } }), 'expected comma-separated http(s) URLs'), 'HTTP URLs of the cluster\'s shards, in remote_servers order (the views are loaded into each directly)'],
  CLICKHOUSE_READ_TIMEOUT: ['30s', duration, 'Deadline of one serving read from ClickHouse'],
  CLICKHOUSE_POINTER_CACHE: ['1s', duration, 'How long serving reuses its read of the ClickHouse batch views pointer (a new version is served at most this much later; 0: read per request)'],
  SERVING_PORT: ['8090', port, 'Port of the serving API and dashboard'],
  SERVING_SPEED_CACHE: ['1s', duration, 'How long the serving API may reuse a speed-store answer (0 turns it off)'],
  SERVING_CACHE_BYTES: ['64mb', size, 'Memory the serving API may give its result cache (estimated; the least recently used answers leave first, an answer over a quarter of it is not kept)'],
  HTTP_REQUEST_TIMEOUT: ['30s', duration, 'Longest a request may take to arrive, first byte to last, on the collector and the serving API'],
  HTTP_HEADERS_TIMEOUT: ['10s', duration, 'Longest the headers of a request may take to arrive (slow clients are cut)'],
  HTTP_KEEPALIVE_TIMEOUT: ['5s', duration, 'An idle keep-alive connection is closed after this'],
  HTTP_IDLE_TIMEOUT: ['60s', duration, 'A connection without any traffic is closed after this'],
  HTTP_MAX_HEADER_SIZE: ['16kb', size, 'Most bytes of a request line and its headers; more is answered 431'],
  SERVING_HOST: ['127.0.0.1', z.string().min(1), 'Listen address of the serving API and dashboard (0.0.0.0: every interface; SITES_FILE must then hold keys of your own)'],
  ALLOW_DEMO_KEYS: ['false', bool, 'Let the collector or serving listen beyond loopback with the published demo keys of config/sites.json (a local container trial only)'],
  SERVING_RATE_LIMIT_CLIENT: ['1200/1m', rateRule, 'Serving API requests per client address and window, shared by every serving process (Redis); off: none'],
  SERVING_RATE_LIMIT_SITE: ['6000/1m', rateRule, 'Serving API requests per site and window, shared by every serving process; off: none'],
  SERVING_ADMIN_KEY: ['', z.union([z.literal(''), z.string().min(24, 'expected at least 24 characters (a random key)')]), 'Bearer key of the admin routes (/v1/jobs); empty: those routes are off'],
  DLQ_METRICS_PORT: ['9103', port, 'Prometheus /metrics port of the dead-letter archiver'],
  DLQ_GROUP: ['', z.string().regex(/^[a-zA-Z0-9._-]*$/, 'expected a consumer group name (letters, digits, . _ -)'), 'Consumer group of the dead-letter archiver (empty: `<DLQ_TOPIC>-archiver`)'],
  DLQ_ALERT_RATE: ['0.05', z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'expected a fraction from 0 to 1').transform(Number), 'Dead-letter share of a site above which a warning is logged'],
  CIRCUIT_BREAKER_THRESHOLD: ['0.5', z.string().regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'expected a fraction from 0 to 1').transform(Number), 'Share of one batch that, dead-lettered, stops a consumer instead'],
  CIRCUIT_BREAKER_MIN_BATCH: ['20', int(1, 1_000_000), 'Smallest batch the circuit breaker judges'],
  SCHEDULER_BATCH_CRON: ['0 2 * * *', z.string().min(9), 'When the nightly batch runs'],
  SCHEDULER_TZ: ['UTC', z.string().min(1), 'Time zone of the schedules'],
  SCHEDULER_METRICS_PORT: ['9104', port, 'Prometheus /metrics port of the scheduler'],
  SCHEDULER_COMPACTION_CRON: ['0 * * * *', z.string().min(9), 'When lake compaction runs'],
  SCHEDULER_RETENTION_CRON: ['30 3 * * *', z.string().min(9), 'When the retention clean-up runs'],
  SCHEDULER_LOCK_TTL: ['60s', duration, 'Expiry of a job lock; a scheduler that dies frees its jobs after this'],
  SCHEDULER_RETRY_ATTEMPTS: ['3', int(1, 100), 'Attempts of a failed job run, the first included'],
  SCHEDULER_RETRY_DELAY: ['30s', duration, 'First back-off between attempts (doubles, jittered, capped at 10x)'],
  RETENTION_LAKE: ['400d', duration, "How long lake partitions are kept, and the batch views' raw events (each day's `events.parquet`: filtered, local-time and revenue answers, totals, breakdowns, funnels)"],
  RETENTION_VIEWS_MINUTE: ['7d', duration, 'How long the batch minute views are kept (a minute series further back is `missing`, with the reason)'],
  RETENTION_VIEWS_HOUR: ['365d', duration, 'How long the batch hour views are kept'],
  RETENTION_VIEWS_DAY: ['1825d', duration, 'How long the batch day views, per-day breakdowns, visitor sketches and month views are kept; older days leave the views (at least RETENTION_LAKE)'],
  RETENTION_DLQ: ['30d', duration, 'How long dead letters are kept'],
  ERASURE_REFRESH: ['5s', duration, 'How often the speed consumers, the lake archiver and the warehouse loader look for a new erasure (`twinlane erase` waits this long, plus a margin, before rewriting the lake)'],
} as const satisfies Record<string, readonly [string, z.ZodType<unknown, string>, string]>;

type Vars = typeof CONFIG_VARIABLES;
export type ConfigValues = { [K in keyof Vars]: z.output<Vars[K][1]> };

/**
 * Addresses written by `make stack-up` (for example the port of a Redis it had to start)
 * fill in variables the environment leaves unset: the cluster stack's with STACK=cluster.
 */
export function readStackEnv(root = process.cwd(), stack: string | undefined = 'single'): Record<string, string> {
  const file = resolve(root, stack === 'cluster' ? '.local/cluster/stack.env' : '.local/stack/stack.env');
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Validates every variable and reports all problems at once, each naming its variable. */
export function parseConfig(env: Record<string, string | undefined>): ConfigValues {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, [def, schema]] of Object.entries(CONFIG_VARIABLES) as [string, readonly [string, z.ZodType, string]][]) {
    const raw = env[name] === undefined || env[name] === '' ? def : env[name]!;
    const result = schema.safeParse(raw);
    if (result.success) out[name] = result.data;
    else problems.push(`${name}=${JSON.stringify(raw)}: ${result.error.issues.map((i) => i.message).join('; ')}`);
  }
  const values = out as ConfigValues;
  if (problems.length === 0) {
    if (values.KAFKA_PORT === values.KAFKA_CONTROLLER_PORT) problems.push(`KAFKA_CONTROLLER_PORT=${values.KAFKA_CONTROLLER_PORT}: must differ from KAFKA_PORT`);
    if (values.SPEED_TTL < 2 * 3_600_000) problems.push(`SPEED_TTL=${env.SPEED_TTL}: must be at least 2h so speed data outlives a batch run's grace`);
    // A lake day whose views were dropped would be computed again as never computed.
    if (values.RETENTION_VIEWS_DAY < values.RETENTION_LAKE) problems.push(`RETENTION_VIEWS_DAY=${env.RETENTION_VIEWS_DAY ?? '1825d'}: must be at least RETENTION_LAKE (${env.RETENTION_LAKE ?? '400d'}), or the batch job would compute again the lake days whose views retention dropped`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values;
}

/** Environment first, then the stack's addresses, then defaults. */
export function loadConfig(env: Record<string, string | undefined> = process.env, root = process.cwd()): ConfigValues {
  return parseConfig({ ...readStackEnv(root, env.STACK), ...env });
}

/** Markdown table of every variable, for the README. */
export function configTable(): string {
  const rows = Object.entries(CONFIG_VARIABLES).map(([name, [def, , desc]]) => `| \`${name}\` | \`${def}\` | ${desc} |`);
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}
