/** `twinlane sql "<query>"`: one read-only query against the ClickHouse warehouse, printed as a table, CSV or JSON. */
import { Command, Option } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { parseDuration } from '../../core/durations.ts';
import { UsageError } from '../../core/errors.ts';
import { ClickHouseConnection, SQL_DEFAULTS, SQL_FORMATS, WarehouseError, clickhouseOptions, formatResult, resultSummary, runReadOnlySql, type SqlFormat } from '../../clickhouse/index.ts';

function maxRows(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10_000_000) throw new UsageError('CLI_ARGUMENT', `--max-rows expects a whole number from 1 to 10000000, got "${v}"`);
  return n;
}

function timeout(v: string): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms < 1_000 || ms > 3_600_000) throw new UsageError('CLI_ARGUMENT', `--timeout expects a duration from 1s to 1h such as 30s or 5m, got "${v}"`);
  return ms;
}

/** Server code 81: the database is missing, i.e. nothing was ever loaded. */
const UNKNOWN_DATABASE = 81;

export function sqlCommand(): Command {
  return new Command('sql')
    .description('Run one read-only query against the ClickHouse warehouse (table `events`, one row per event; `warehouse_loads`)')
    .argument('<query>', 'a SELECT (or SHOW, DESCRIBE…); writes, DDL and SETTINGS are refused')
    .addOption(new Option('--format <format>', 'output format').choices(SQL_FORMATS).default('table'))
    .option('--max-rows <n>', 'stop after this many rows (the server stops early too)', maxRows, SQL_DEFAULTS.maxRows)
    .option('--timeout <duration>', 'time limit of the query (max_execution_time)', timeout, SQL_DEFAULTS.timeoutMs)
    .addHelpText(
      'after',
      `
Examples (the README has more: funnels, retention by week, revenue per UTM campaign):
  twinlane sql "SELECT site_id, count() FROM events GROUP BY site_id"
  twinlane sql --format csv "SELECT * FROM events WHERE site_id = 'shop' ORDER BY event_time DESC LIMIT 100"`,
    )
    .action(async (query: string, o: { format: SqlFormat; maxRows: number; timeout: number }) => {
      const config = loadConfig();
      const options = clickhouseOptions(config, { requestTimeoutMs: o.timeout + 10_000 });
      if (!options) throw new UsageError('WAREHOUSE_NOT_CONFIGURED', 'no ClickHouse configured: run `make stack-up` (it starts one) or set CLICKHOUSE_URL');
      const ch = new ClickHouseConnection(options, options.database);
      try {
        const result = await runReadOnlySql(ch, query, { maxRows: o.maxRows, timeoutMs: o.timeout });
        console.log(formatResult(result, o.format));
        console.error(resultSummary(result, o.maxRows));
      } catch (err) {
        if (err instanceof WarehouseError && err.serverCode === UNKNOWN_DATABASE) {
          throw new UsageError('WAREHOUSE_EMPTY', `ClickHouse at ${options.url} has no database ${options.database} yet: the warehouse step creates it after the first batch run (\`twinlane jobs run batch\`)`);
        }
        throw err;
      } finally {
        await ch.close();
      }
    });
}
