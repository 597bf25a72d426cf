/** CLI: `stack up | down | status | fetch`. */
import { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { errorMessage } from '../../core/errors.ts';
import { fetchJars } from '../../stack/index.ts';
import { stackPaths } from '../../core/processes.ts';
import { clusterDown, clusterStatus, clusterUp, stackDown, stackStatus, stackUp } from '../../stack/index.ts';
import type { ConfigValues } from '../../core/config.ts';

/** `--cluster` or STACK=cluster: the three-broker, Redis Cluster stack (stack/cluster.ts). */
function clusterMode(opts: { cluster?: boolean }, config: ConfigValues): boolean {
  return opts.cluster === true || config.STACK === 'cluster';
}

async function clusterUpCommand(config: ConfigValues): Promise<void> {
  const t0 = Date.now();
  const info = await clusterUp(config);
  const tag = (reused: boolean) => (reused ? 'reused ' : 'started');
  for (const k of info.kafka) console.log(`kafka ${k.id}   ${tag(k.reused)}  127.0.0.1:${k.port}`);
  for (const r of info.redis) console.log(`redis ${r.port} ${tag(r.reused)}  ${r.role ?? ''}`);
  if (info.registry) console.log(`registry  ${info.registry.pid ? tag(info.registry.reused) : 'external'}  ${info.registry.url}`);
  console.log(`KAFKA_BROKERS=${info.brokers} REDIS_CLUSTER_NODES=${info.redisNodes} (in .local/cluster/stack.env; read with STACK=cluster)`);
  console.log(`cluster stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export function stackCommand(): Command {
const program = new Command('stack').description('Local stack without Docker: Kafka (KRaft), Redis, the schema registry and ClickHouse');

program
  .command('up')
  .description('start what is not running (reuses what runs) and create the topics')
  .option('--cluster', 'the cluster stack: three KRaft brokers, a Redis Cluster of 3 masters + 3 replicas, the registry (or STACK=cluster)')
  .action(async (opts: { cluster?: boolean }) => {
    const config = loadConfig();
    if (clusterMode(opts, config)) return clusterUpCommand(config);
    const t0 = Date.now();
    const info = await stackUp(config);
    const tag = (reused: boolean) => (reused ? 'reused' : 'started');
    console.log(`kafka     ${info.kafka.pid ? tag(info.kafka.reused) : 'external'}  ${info.kafka.brokers}`);
    console.log(`redis     ${info.redis.pid ? tag(info.redis.reused) : 'external'}  ${info.redis.url}`);
    if (info.registry) console.log(`registry  ${info.registry.pid ? tag(info.registry.reused) : 'external'}  ${info.registry.url}`);
    if (info.clickhouse) console.log(`clickhouse ${info.clickhouse.pid ? tag(info.clickhouse.reused) : info.clickhouse.down ? 'external, DOWN' : 'external'}  ${info.clickhouse.url}`);
    console.log(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

program
  .command('fetch')
  .description('resolve the Kafka broker jars from Maven Central (once; cached in ~/.m2)')
  .action(() => {
    fetchJars(stackPaths(), console.log);
  });

program
  .command('down')
  .description('stop the processes the stack started (and only those)')
  .option('--cluster', 'the cluster stack (or STACK=cluster)')
  .action(async (opts: { cluster?: boolean }) => {
    const config = loadConfig();
    if (clusterMode(opts, config)) {
      await clusterDown(config);
      console.log('cluster stack stopped');
      return;
    }
    await stackDown();
    console.log('stack stopped');
  });

program
  .command('status')
  .description('say what runs where')
  .option('--cluster', 'the cluster stack (or STACK=cluster)')
  .action(async (opts: { cluster?: boolean }) => {
    const config = loadConfig();
    for (const line of await (clusterMode(opts, config) ? clusterStatus(config) : stackStatus(config))) console.log(line);
  });

return program;
}

// Run directly: `node --import tsx stack/cli.ts up`.
if (import.meta.url === `file://${process.argv[1]}`) {
  stackCommand()
    .parseAsync()
    .catch((err: unknown) => {
      console.error(`stack: ${errorMessage(err)}`);
      process.exit(1);
    });
}
