import { describe, expect, it } from 'vitest';
import { parseNumberRows } from './clickhouse.client.ts';
import { WarehouseError } from './warehouse.errors.ts';

describe('parseNumberRows', () => {
  it('reads TabSeparated rows of numbers in column order, with or without a last newline', () => {
    expect(parseNumberRows('1796342400000\t12\t-3\n1796346000000\t0\t7\n', 'x')).toEqual([
      [1796342400000, 12, -3],
      [1796346000000, 0, 7],
    ]);
    expect(parseNumberRows('5\t0.25', 'x')).toEqual([[5, 0.25]]);
    expect(parseNumberRows('', 'x')).toEqual([]);
  });

  it('refuses a field that is not a number (text, NULL, an empty field), naming where', () => {
    for (const bad of ['1\tabc\n', '1\t\\N\n', '1\t\t2\n', '\n']) {
      let err: unknown;
      try {
        parseNumberRows(bad, 'reading a series');
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(WarehouseError);
      expect((err as WarehouseError).message).toMatch(/reading a series .*\(row 1, column/);
      expect((err as WarehouseError).retriable).toBe(false);
    }
  });
});
