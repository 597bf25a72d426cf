/** Waiting for ClickHouse mutations (`ALTER TABLE … DELETE` runs in the background; 18.16 has no mutations_sync). */
import type { ClickHouseConnection } from './clickhouse.client.ts';
import { quoteString } from './sql.quote.ts';
import { WarehouseError } from './warehouse.errors.ts';

/** Resolves once no mutation of `database.table` is pending on `ch`. */
export async function mutationsDone(ch: ClickHouseConnection, database: string, table: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [r] = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM system.mutations WHERE database = ${quoteString(database)} AND table = ${quoteString(table)} AND is_done = 0`,
      `waiting for the mutations of ${table}`,
    );
    if (Number(r?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new WarehouseError('CLICKHOUSE_TIMEOUT', `a deletion in ${database}.${table} did not finish within ${timeoutMs / 1000} s (system.mutations)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
