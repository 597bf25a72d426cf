import { describe, expect, it } from 'vitest';
import { fromClickHouse, serverMessage, WarehouseError } from './warehouse.errors.ts';

const URL = 'http://127.0.0.1:8123';

describe('ClickHouse failures as warehouse errors', () => {
  it('reads the server code of 18.16 and of current releases', () => {
    const old = fromClickHouse(new Error('Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1: SELEC 1, e.what() = DB::Exception\n'), 'running the query', URL);
    expect(old).toMatchObject({ code: 'CLICKHOUSE_QUERY_FAILED', serverCode: 62, retriable: false });
    expect(old.message).toBe('ClickHouse refused running the query (code 62): Syntax error: failed at position 1: SELEC 1');
    const current = fromClickHouse(Object.assign(new Error('Syntax error'), { code: '62', type: 'SYNTAX_ERROR' }), 'q', URL);
    expect(current).toMatchObject({ code: 'CLICKHOUSE_QUERY_FAILED', serverCode: 62 });
  });

  it('gives each failure its retry verdict', () => {
    expect(fromClickHouse(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }), 'inserting', URL)).toMatchObject({ code: 'CLICKHOUSE_UNAVAILABLE', retriable: true });
    expect(fromClickHouse(new Error('socket hang up'), 'inserting', URL)).toMatchObject({ code: 'CLICKHOUSE_UNAVAILABLE', retriable: true });
    expect(fromClickHouse(new Error('aborted'), 'inserting', URL, true)).toMatchObject({ code: 'CLICKHOUSE_TIMEOUT', retriable: true });
    expect(fromClickHouse(new Error('Code: 252, e.displayText() = DB::Exception: Too many parts (300)'), 'inserting', URL)).toMatchObject({ code: 'CLICKHOUSE_QUERY_FAILED', retriable: true });
    expect(fromClickHouse(new Error('Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 1.0 seconds'), 'q', URL)).toMatchObject({ code: 'CLICKHOUSE_TIMEOUT' });
    expect(fromClickHouse(new Error('Code: 164, e.displayText() = DB::Exception: Cannot insert into table in readonly mode, e.what() = DB::Exception'), 'q', URL)).toMatchObject({
      code: 'CLICKHOUSE_READONLY',
      retriable: false,
      message: 'refused in read-only mode: Cannot insert into table in readonly mode',
    });
    const same = new WarehouseError('WAREHOUSE_LOAD_MISMATCH', 'x');
    expect(fromClickHouse(same, 'q', URL)).toBe(same);
    expect(same.retriable).toBe(true);
  });

  it('strips the wrapping of a server message', () => {
    expect(serverMessage(new Error('Code: 81. DB::Exception: Database twinlane does not exist. (UNKNOWN_DATABASE)'))).toBe('Database twinlane does not exist. (UNKNOWN_DATABASE)');
  });
});
