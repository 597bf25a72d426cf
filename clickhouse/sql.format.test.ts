import { describe, expect, it } from 'vitest';
import { formatCsv, formatJson, formatTable, resultSummary } from './sql.format.ts';
import { cleanQuery, readOnlySettings } from './sql.query.ts';
import type { SqlResult } from './sql.query.ts';

const result: SqlResult = {
  columns: [
    { name: 'site_id', type: 'String' },
    { name: 'pageviews', type: 'UInt64' },
    { name: 'campaign', type: 'Nullable(String)' },
    { name: 'keys', type: 'Array(String)' },
  ],
  rows: [
    ['shop', '1200', 'autumn, "big" sale', ['a', 'b']],
    ['blog', '7', null, []],
  ],
  truncated: false,
  elapsedMs: 1234,
};

describe('sql output', () => {
  it('aligns a table, numbers to the right, NULL spelled out', () => {
    expect(formatTable(result)).toBe(
      [
        'site_id  pageviews  campaign            keys',
        '-------  ---------  ------------------  ---------',
        'shop          1200  autumn, "big" sale  ["a","b"]',
        'blog             7  NULL                []',
      ].join('\n'),
    );
  });

  it('cuts long cells and flattens line breaks in the table only', () => {
    const long: SqlResult = { ...result, columns: [{ name: 'u', type: 'String' }], rows: [['x'.repeat(100)], ['a\nb']] };
    const lines = formatTable(long).split('\n');
    expect(lines[2]).toBe(`${'x'.repeat(79)}…`);
    expect(lines[3]).toBe('a b');
    expect(formatCsv(long).split('\n')[1]).toBe('x'.repeat(100));
  });

  it('writes RFC 4180 CSV with an empty field for NULL', () => {
    expect(formatCsv(result)).toBe(['site_id,pageviews,campaign,keys', 'shop,1200,"autumn, ""big"" sale","[""a"",""b""]"', 'blog,7,,[]'].join('\n'));
  });

  it('writes a JSON array of row objects', () => {
    expect(JSON.parse(formatJson(result))).toEqual([
      { site_id: 'shop', pageviews: '1200', campaign: 'autumn, "big" sale', keys: ['a', 'b'] },
      { site_id: 'blog', pageviews: '7', campaign: null, keys: [] },
    ]);
    expect(formatJson({ ...result, rows: [] })).toBe('[]');
  });

  it('says when the row limit cut the result', () => {
    expect(resultSummary(result, 10)).toBe('2 rows in 1.23 s');
    expect(resultSummary({ ...result, truncated: true }, 2)).toMatch(/stopped at --max-rows 2/);
  });
});

describe('read-only query', () => {
  it('drops trailing semicolons and refuses an empty query or a FORMAT clause', () => {
    expect(cleanQuery('  SELECT 1 ;; ')).toBe('SELECT 1');
    expect(() => cleanQuery(' ; ')).toThrowError(/empty/);
    expect(() => cleanQuery('SELECT 1 FORMAT CSV')).toThrowError(/--format/);
  });

  it('sets readonly last, after the limits it must not let a query change', () => {
    const s = readOnlySettings({ maxRows: 100, timeoutMs: 2_500 });
    expect(Object.keys(s).at(-1)).toBe('readonly');
    expect(s).toMatchObject({ max_execution_time: 3, max_result_rows: 101, result_overflow_mode: 'break', readonly: 1 });
  });
});
