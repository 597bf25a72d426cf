/**
 * ClickHouse for the warehouse: Debian's `clickhouse-server` (18.16, `make setup` installs it)
 * started as our own process on free loopback ports, its configuration, data and PID file under
 * .local/, like Redis. A CLICKHOUSE_URL that names another server is used as it is and never
 * managed (started or stopped) by the stack.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort, logFile, portOpen, runningPid, startDetached, waitFor, type StackPaths } from '../core/processes.ts';

export interface ClickHouseServerSpec {
  /** PID-file and log name (`clickhouse` for the stack's own server). */
  name: string;
  /** Folder of config.xml, users.xml and data/. */
  dir: string;
  /** A `remote_servers` cluster the server knows (Distributed tables read through it). */
  cluster?: ClickHouseClusterSpec;
}

/** A cluster of one replica per shard, each shard a server's native (TCP) port on loopback. */
export interface ClickHouseClusterSpec {
  name: string;
  shardTcpPorts: number[];
}

/** The `remote_servers` section of a cluster: shards in order, one replica each, user `default`. */
export function remoteServersXml(cluster: ClickHouseClusterSpec): string {
  const shards = cluster.shardTcpPorts.map((port) => `      <shard><replica><host>127.0.0.1</host><port>${port}</port></replica></shard>`).join('\n');
  return `  <remote_servers>\n    <${cluster.name}>\n${shards}\n    </${cluster.name}>\n  </remote_servers>\n`;
}

export interface ClickHouseInfo {
  url: string;
  /** Absent when the server is not ours. */
  pid?: number;
  reused: boolean;
  /** An external server named by CLICKHOUSE_URL that does not answer. */
  down?: boolean;
}

export function stackClickHouse(paths: StackPaths): ClickHouseServerSpec {
  return { name: 'clickhouse', dir: join(paths.root, '.local', 'clickhouse') };
}

const configPath = (spec: ClickHouseServerSpec) => join(spec.dir, 'config.xml');

/**
 * Allocator setting of our server: jemalloc never hands freed pages back to the kernel, so the
 * next insert block reuses them instead of faulting fresh ones in. Page faults were most of an
 * insert's CPU on our VMs: a 10M-event day of warehouse CSV into a staging table took 51–59
 * ClickHouse CPU-s with the default decay (also with 10 s or 120 s), 30 with
 * oversize_threshold:0, 20–25 with this. The price: RSS stays at its high-water mark (1.2 GB
 * after one such load, 2.8 GB after eight) until the server restarts.
 */
export const CLICKHOUSE_MALLOC_CONF = 'dirty_decay_ms:-1,muzzy_decay_ms:-1';

/** The server program: `clickhouse-server` (Debian puts it in /usr/sbin), or the single `clickhouse` binary. */
export function clickhouseBinary(): { command: string; args: string[] } | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) if (existsSync(join(d, 'clickhouse-server'))) return { command: join(d, 'clickhouse-server'), args: [] };
  for (const d of dirs) if (existsSync(join(d, 'clickhouse'))) return { command: join(d, 'clickhouse'), args: ['server'] };
  return undefined;
}

export async function clickhouseAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(1000) });
    return res.ok && (await res.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

export function clickhouseRunning(paths: StackPaths, spec: ClickHouseServerSpec = stackClickHouse(paths)): number | undefined {
  return runningPid(paths, spec.name, configPath(spec));
}

/** The root element `yandex` is what 18.16 reads; current releases read it too. */
function configXml(spec: ClickHouseServerSpec, paths: StackPaths, ports: { http: number; tcp: number }): string {
  const data = join(spec.dir, 'data');
  return `<?xml version="1.0"?>
<!-- Written by twinlane stack (stack/clickhouse.ts) at every start; edits are lost. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>${logFile(paths, spec.name)}</log>
    <errorlog>${logFile(paths, `${spec.name}.err`)}</errorlog>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <path>${data}/</path>
  <tmp_path>${data}/tmp/</tmp_path>
  <user_files_path>${data}/user_files/</user_files_path>
  <format_schema_path>${data}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
${spec.cluster ? remoteServersXml(spec.cluster) : ''}</yandex>
`;
}

/** One user, `default`, without password, reachable from loopback only; 4 GB per query. */
const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
`;

/** The ports of the last start, kept when still free, so the URL stays the same across restarts. */
export async function choosePorts(spec: ClickHouseServerSpec): Promise<{ http: number; tcp: number }> {
  const file = configPath(spec);
  if (existsSync(file)) {
    const xml = readFileSync(file, 'utf8');
    const http = Number(/<http_port>(\d+)<\/http_port>/.exec(xml)?.[1]);
    const tcp = Number(/<tcp_port>(\d+)<\/tcp_port>/.exec(xml)?.[1]);
    if (http > 0 && tcp > 0 && http !== tcp && !(await portOpen(http)) && !(await portOpen(tcp))) return { http, tcp };
  }
  const http = await freePort();
  let tcp = await freePort();
  while (tcp === http) tcp = await freePort();
  return { http, tcp };
}

/** Starts a server of our own for `spec` and waits until it answers. */
export async function startClickHouse(paths: StackPaths, spec: ClickHouseServerSpec, log: (line: string) => void, chosen?: { http: number; tcp: number }): Promise<{ url: string; pid: number }> {
  const bin = clickhouseBinary();
  if (!bin) throw new Error('clickhouse-server is not installed (`make setup` installs Debian\'s clickhouse-server)');
  const ports = chosen ?? (await choosePorts(spec));
  mkdirSync(join(spec.dir, 'data', 'tmp'), { recursive: true });
  mkdirSync(paths.logs, { recursive: true });
  writeFileSync(configPath(spec), configXml(spec, paths, ports));
  writeFileSync(join(spec.dir, 'users.xml'), USERS_XML);
  const url = `http://127.0.0.1:${ports.http}`;
  const pid = startDetached(paths, spec.name, bin.command, [...bin.args, `--config-file=${configPath(spec)}`], { ...process.env, MALLOC_CONF: CLICKHOUSE_MALLOC_CONF });
  log(`${spec.name} starting on ${url} (tcp ${ports.tcp}, pid ${pid}), data in ${join(spec.dir, 'data')}, log ${logFile(paths, spec.name)}`);
  await waitFor(spec.name, () => clickhouseAnswers(url), 60_000, () => !clickhouseRunning(paths, spec));
  return { url, pid };
}

/** The URL our server listens on (from the config.xml it was started with). */
export function ownClickHouseUrl(spec: ClickHouseServerSpec): string | undefined {
  const file = configPath(spec);
  if (!existsSync(file)) return undefined;
  const port = /<http_port>(\d+)<\/http_port>/.exec(readFileSync(file, 'utf8'))?.[1];
  return port ? `http://127.0.0.1:${port}` : undefined;
}

/**
 * The ClickHouse to use: the one `externalUrl` names (CLICKHOUSE_URL set by the user; used as it
 * is, never started or stopped here), else ours, started when it does not run.
 */
export async function ensureClickHouse(paths: StackPaths, externalUrl: string, log: (line: string) => void): Promise<ClickHouseInfo | undefined> {
  const spec = stackClickHouse(paths);
  const ownUrl = ownClickHouseUrl(spec);
  if (externalUrl && externalUrl !== ownUrl) {
    if (await clickhouseAnswers(externalUrl)) return { url: externalUrl, reused: true };
    log(`ClickHouse at CLICKHOUSE_URL=${externalUrl} does not answer; the stack does not manage it (the warehouse step fails until it answers)`);
    return { url: externalUrl, reused: true, down: true };
  }
  const own = clickhouseRunning(paths, spec);
  if (own && ownUrl) {
    // Ours may still be starting (another stack-up a moment ago): wait for it rather than start a second one on the same data.
    await waitFor(spec.name, () => clickhouseAnswers(ownUrl), 60_000, () => !clickhouseRunning(paths, spec));
    return { url: ownUrl, pid: own, reused: true };
  }
  if (!clickhouseBinary()) {
    log('clickhouse-server is not installed (`make setup` installs it): no warehouse; everything else works without it');
    return undefined;
  }
  const started = await startClickHouse(paths, spec, log);
  return { url: started.url, pid: started.pid, reused: false };
}

/**
 * Servers of a `remote_servers` cluster named `name` on loopback, one shard each (the shape the
 * batch views' sharded store reads through Distributed tables): the ports of all are chosen first
 * so that every server's configuration names every shard. Returns their HTTP URLs in shard order.
 */
export async function startClickHouseCluster(paths: StackPaths, specs: readonly ClickHouseServerSpec[], name: string, log: (line: string) => void): Promise<{ urls: string[]; pids: number[] }> {
  const ports: { http: number; tcp: number }[] = [];
  for (const spec of specs) {
    let p = await choosePorts(spec);
    // Each server's ports must differ from the ones already given to the others.
    while (ports.some((q) => [q.http, q.tcp].includes(p.http) || [q.http, q.tcp].includes(p.tcp))) p = { http: await freePort(), tcp: await freePort() };
    ports.push(p);
  }
  const cluster: ClickHouseClusterSpec = { name, shardTcpPorts: ports.map((p) => p.tcp) };
  const started = await Promise.all(specs.map((spec, i) => startClickHouse(paths, { ...spec, cluster }, log, ports[i])));
  return { urls: started.map((s) => s.url), pids: started.map((s) => s.pid) };
}

