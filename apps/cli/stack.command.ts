/** CLI: `stack up | down | status | fetch`. */
import { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { errorMessage } from '../../core/errors.ts';
import { fetchJars } from '../../stack/index.ts';
import { stackPaths } from '../../core/processes.ts';
import { stackDown, stackStatus, stackUp } from '../../stack/index.ts';

export function stackCommand(): Command {
const program = new Command('stack').description('Local stack without Docker: Kafka (KRaft), Redis, the schema registry and ClickHouse');

program
  .command('up')
  .description('start what is not running (reuses what runs) and create the topics')
  .action(async () => {
    const t0 = Date.now();
    const info = await stackUp(loadConfig());
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
  .action(async () => {
    await stackDown();
    console.log('stack stopped');
  });

program
  .command('status')
  .description('say what runs where')
  .action(async () => {
    for (const line of await stackStatus(loadConfig())) console.log(line);
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
