/**
 * The ClickHouse views reader's pointer reuse, with a stand-in connection (pure unit test): reads
 * within `pointerCacheMs` share one query, the next after it queries again, a failed read is not
 * kept, and 0 reads for every request. The SQL itself is tested against real ClickHouse by the
 * contract suites.
 */
import { describe, expect, it } from 'vitest';
import type { ClickHouseConnection } from './clickhouse.client.ts';
import { ClickHouseViewsReader } from './views.reader.ts';

function fakeConnection(answers: (() => unknown[])[]): { connection: ClickHouseConnection; queries: string[] } {
  const queries: string[] = [];
  const connection = {
    async rows(sql: string) {
      queries.push(sql);
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      return next();
    },
  } as unknown as ClickHouseConnection;
  return { connection, queries };
}

const row = (version: string) => () => [{ version, watermark: '86400000', seq: '1' }];

describe('ClickHouseViewsReader pointer', () => {
  it('reuses a read for pointerCacheMs, then reads again', async () => {
    let now = 1_000;
    const { connection, queries } = fakeConnection([row('v000001'), row('v000002')]);
    const reader = new ClickHouseViewsReader({ connection, database: 'db', readTimeoutMs: 1_000, pointerCacheMs: 1_000 }, () => now);
    expect((await reader.pointer())?.version).toBe('v000001');
    now += 999;
    expect((await reader.pointer())?.version).toBe('v000001');
    expect(queries).toHaveLength(1);
    now += 1;
    expect((await reader.pointer())?.version).toBe('v000002');
    expect(queries).toHaveLength(2);
    expect(queries[0]).toMatch(/FROM `db`\.`view_pointer` ORDER BY seq DESC LIMIT 1/);
  });

  it('does not keep a failed read', async () => {
    const { connection, queries } = fakeConnection([
      () => {
        throw new Error('down');
      },
      row('v000003'),
    ]);
    const reader = new ClickHouseViewsReader({ connection, database: 'db', readTimeoutMs: 1_000, pointerCacheMs: 60_000 }, () => 5);
    await expect(reader.pointer()).rejects.toThrow('down');
    expect((await reader.pointer())?.version).toBe('v000003');
    expect(queries).toHaveLength(2);
  });

  it('reads for every request with 0', async () => {
    const { connection, queries } = fakeConnection([row('v1'), row('v2')]);
    const reader = new ClickHouseViewsReader({ connection, database: 'db', readTimeoutMs: 1_000, pointerCacheMs: 0 }, () => 5);
    expect((await reader.pointer())?.version).toBe('v1');
    expect((await reader.pointer())?.version).toBe('v2');
    expect(queries).toHaveLength(2);
  });
});
