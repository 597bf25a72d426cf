/**
 * One Redis client type for a single server and for Redis Cluster, so the parts hold a
 * `RedisClient` and never ask which it is. Two things differ on a cluster and are handled here:
 *
 * - A cluster pipeline may only address one node, and the parts pipeline several sites' keys at
 *   once (one `{site}` hash tag each). `SlotSplitCluster.pipeline()` queues the commands and, at
 *   `exec()`, sends one real pipeline per hash tag (so per slot, whichever node owns it now),
 *   replies back in the caller's order. A pipeline was never atomic, so nothing is lost by the split.
 * - Replication to a replica is asynchronous: a master killed before its replica got a write takes
 *   the write with it, and the promoted replica is behind what the writer believes.
 *   `waitForReplicas()` is the speed writer's fence against that (WAIT on every master that has a
 *   replica), so a write counts as done only once a failover cannot undo it.
 */
import { Cluster, Command, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { DependencyError } from './errors.ts';

export type RedisClient = Redis | Cluster;

/** Where Redis is: a URL, or (non-empty) a list of cluster nodes to discover the cluster from. */
export interface RedisTarget {
  url: string;
  clusterNodes: readonly string[];
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** The hash tag Redis Cluster hashes a key on: the text between the first `{` and the next `}` when not empty, else the key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

type Queued = { name: string; args: unknown[] };
type Reply = [Error | null, unknown];
type ScriptInfo = { numberOfKeys: number | null };

/** Keys of a queued command: scripts defined with defineCommand by their key count, others as ioredis knows them. */
function commandKeys(client: Cluster, { name, args }: Queued): string[] {
  const scripts = (client as unknown as { scriptsSet: Record<string, ScriptInfo> }).scriptsSet;
  const base = name.endsWith('Buffer') ? name.slice(0, -'Buffer'.length) : name;
  const flat = args.flat() as (string | number | Buffer)[];
  const script = scripts[base];
  if (script) {
    const first = script.numberOfKeys === null ? 1 : 0;
    const n = script.numberOfKeys ?? Number(flat[0]);
    return flat.slice(first, first + n).map(String);
  }
  if (base === 'call') return new Command(String(flat[0]), flat.slice(1)).getKeys().map(String);
  return new Command(base, args as never).getKeys().map(String);
}

/** Members of the queueing pipeline that are not Redis commands. */
const OWN = new Set(['exec', 'length']);

/** An ioredis Cluster whose pipelines may span nodes (module comment). */
export class SlotSplitCluster extends Cluster {
  override pipeline(commands?: unknown[][]): ChainableCommander {
    const queue: Queued[] = (commands ?? []).map(([name, ...args]) => ({ name: String(name), args }));
    const cluster = this;
    const real = (): ChainableCommander => super.pipeline();
    const probe = real() as unknown as Record<string, unknown>;
    const exec = async (): Promise<Reply[]> => {
      const groups = new Map<string, number[]>();
      queue.forEach((cmd, i) => {
        const keys = commandKeys(cluster, cmd);
        const tag = keys.length > 0 ? hashTag(keys[0]!) : '';
        let group = groups.get(tag);
        if (!group) groups.set(tag, (group = []));
        group.push(i);
      });
      const replies = new Array<Reply>(queue.length);
      await Promise.all(
        [...groups.values()].map(async (indexes) => {
          const pipe = real() as unknown as Record<string, (...a: unknown[]) => unknown> & { exec(): Promise<Reply[] | null> };
          for (const i of indexes) pipe[queue[i]!.name]!(...queue[i]!.args);
          const res = await pipe.exec();
          if (!res) throw new DependencyError('REDIS_PIPELINE_ABORTED', 'redis: a cluster pipeline was aborted');
          indexes.forEach((i, j) => (replies[i] = res[j]!));
        }),
      );
      return replies;
    };
    const proxy: ChainableCommander = new Proxy({} as ChainableCommander, {
      get(_, prop) {
        if (prop === 'exec') return (cb?: (err: Error | null, res?: Reply[]) => void) => (cb ? void exec().then((r) => cb(null, r), (e: Error) => cb(e)) : exec());
        if (prop === 'length') return queue.length;
        if (typeof prop !== 'string' || OWN.has(prop) || typeof probe[prop] !== 'function' || prop === 'multi' || prop === 'pipeline') return undefined;
        return (...args: unknown[]) => {
          queue.push({ name: prop, args });
          return proxy;
        };
      },
    });
    return proxy;
  }
}

/** Redis options of a client; on a cluster they apply to each node's connection. */
export type RedisClientOptions = Pick<RedisOptions, 'maxRetriesPerRequest' | 'enableOfflineQueue' | 'enableAutoPipelining' | 'lazyConnect' | 'connectTimeout' | 'commandTimeout'>;

function clusterNode(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

/**
 * The one place a Redis client is made: a Redis Cluster client when `clusterNodes` is set, else a
 * client of `url`. On a cluster, pipelines are split per slot (SlotSplitCluster), auto-pipelining
 * is left to ioredis' own per-node grouping, and a command that meets a failover (connection
 * lost, CLUSTERDOWN, MOVED) is retried after the new topology is read.
 */
export function newRedisClient(target: RedisTarget, options: RedisClientOptions): RedisClient {
  if (target.clusterNodes.length === 0) return new Redis(target.url, options);
  const { enableOfflineQueue, enableAutoPipelining, lazyConnect, ...nodeOptions } = options;
  void enableAutoPipelining;
  return new SlotSplitCluster(target.clusterNodes.map(clusterNode), {
    redisOptions: nodeOptions,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    // Split pipelines would fight ioredis' auto-pipelines, which already group per node.
    enableAutoPipelining: false,
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
    // Reconnect for good: a cluster whose nodes all restart comes back by itself.
    clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
  });
}

/**
 * Returns once every write this client made before it reached a replica of its master (WAIT),
 * on a cluster; at once on a single server (its loss loses everything alike, and the speed store
 * then rebuilds from its epochs). A master with no replica (a failover happened and its old
 * master is not back yet) is not waited for: no failover can undo its writes, only its loss.
 * Throws a retriable DependencyError when a replica exists but has not acknowledged within
 * `timeoutMs`: the caller does not take the write as done, and its retry is fenced (offset records).
 */
export async function waitForReplicas(client: RedisClient, timeoutMs: number): Promise<void> {
  if (!isCluster(client)) return;
  const withReplica = new Set<string>();
  for (const owners of client.slots) if (owners && owners.length > 1) withReplica.add(owners[0]!);
  const masters = client.nodes('master').filter((n) => withReplica.has(`${n.options.host}:${n.options.port}`));
  await Promise.all(
    masters.map(async (node) => {
      const where = `${node.options.host}:${node.options.port}`;
      let acked: number;
      try {
        acked = Number(await node.call('WAIT', '1', String(timeoutMs)));
        if (acked >= 1) return;
        const role = (await node.call('ROLE')) as [string, number, unknown[]];
        if (role[0] === 'master' && role[2].length === 0) return;
      } catch (err) {
        throw new DependencyError('REDIS_NOT_REPLICATED', `redis: could not confirm the replication of writes on ${where}: ${(err as Error).message}`, err);
      }
      throw new DependencyError('REDIS_NOT_REPLICATED', `redis: the replica of ${where} did not acknowledge writes within ${timeoutMs} ms`);
    }),
  );
}

/** Every key matching `match`, batch by batch: on a cluster, each master is scanned. */
export async function* scanKeys(client: RedisClient, match: string, count = 1000): AsyncGenerator<string[]> {
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  for (const node of nodes) {
    for await (const batch of node.scanStream({ match, count })) if ((batch as string[]).length) yield batch as string[];
  }
}

/** UNLINK of keys of any slots (one command per hash tag on a cluster); returns how many existed. */
export async function unlinkKeys(client: RedisClient, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  if (!isCluster(client)) return client.unlink(...keys);
  const byTag = new Map<string, string[]>();
  for (const k of keys) {
    const tag = hashTag(k);
    let list = byTag.get(tag);
    if (!list) byTag.set(tag, (list = []));
    list.push(k);
  }
  const counts = await Promise.all([...byTag.values()].map((list) => client.unlink(...list)));
  return counts.reduce((a, b) => a + b, 0);
}
