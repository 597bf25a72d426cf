/**
 * The one wrapper around @clickhouse/client: every call maps its failure to a WarehouseError
 * (clickhouse/warehouse.errors.ts), so callers decide from `code` and `retriable`, never from
 * the client's own error shapes. Only features ClickHouse 18.16 has are used: no query
 * parameters (values are quoted by sql.quote.ts), plain HTTP settings, CSV and JSONEachRow.
 */
import type { Readable } from 'node:stream';
import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { fromClickHouse, WarehouseError } from './warehouse.errors.ts';
import type { ClickHouseOptions } from './options.ts';

export type Settings = Record<string, string | number>;

export interface CallOptions {
  settings?: Settings;
  /** Our own deadline (ms) for the whole call; exceeding it is CLICKHOUSE_TIMEOUT. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class ClickHouseConnection {
  readonly url: string;
  private readonly client: ClickHouseClient;

  /** `database`: the default database of unqualified names (the `twinlane sql` case); loads qualify every name. */
  constructor(options: ClickHouseOptions, database?: string) {
    this.url = options.url;
    this.client = createClient({
      url: options.url,
      username: options.username,
      password: options.password,
      request_timeout: options.requestTimeoutMs,
      ...(database ? { database } : {}),
      // Our errors carry what the client would log; the client itself stays quiet.
      log: { level: ClickHouseLogLevel.OFF },
      application: 'twinlane',
    });
  }

  /** True when the server answers /ping. */
  async ping(): Promise<boolean> {
    const r = await this.client.ping().catch(() => ({ success: false }));
    return r.success;
  }

  async version(): Promise<string> {
    const [row] = await this.rows<{ v: string }>('SELECT version() AS v', 'reading the server version');
    return row!.v;
  }

  /** A statement without a result (DDL, ALTER, DROP). */
  async command(sql: string, what: string, o: CallOptions = {}): Promise<void> {
    await this.call(what, o, (signal) => this.client.command({ query: sql, clickhouse_settings: settingsOf(o), abort_signal: signal }));
  }

  /** A query's rows as objects (JSONEachRow; 64-bit integers arrive as strings). */
  async rows<T>(sql: string, what: string, o: CallOptions = {}): Promise<T[]> {
    return this.call(what, o, async (signal) => {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: settingsOf(o), abort_signal: signal });
      return rs.json<T>();
    });
  }

  /**
   * A query whose every column is a number, as rows of numbers in SELECT order: TabSeparated text
   * split by hand, a third of the CPU of parsing the same rows as JSON objects (a 720-row series).
   */
  async numbers(sql: string, what: string, o: CallOptions = {}): Promise<number[][]> {
    const text = await this.call(what, o, async (signal) => {
      const rs = await this.client.query({ query: sql, format: 'TabSeparated', clickhouse_settings: settingsOf(o), abort_signal: signal });
      return rs.text();
    });
    return parseNumberRows(text, what);
  }

  /**
   * A one-column query's values streamed in chunks (TabSeparatedRaw: the text as it is; a value
   * holding a tab or newline would split, so only for ids, which hold neither).
   */
  async *lines(sql: string, what: string, o: CallOptions = {}): AsyncGenerator<string[]> {
    const { signal, done } = this.deadline(o);
    try {
      const rs = await this.client.query({ query: sql, format: 'TabSeparatedRaw', clickhouse_settings: settingsOf(o), abort_signal: signal });
      for await (const rows of rs.stream()) yield (rows as { text: string }[]).map((r) => r.text);
    } catch (err) {
      if (o.signal?.aborted) throw o.signal.reason;
      throw fromClickHouse(err, what, this.url, timedOut(signal, o.signal));
    } finally {
      done();
    }
  }

  /** A query's result as one JSON document (JSON, JSONCompact: `meta` with names and types, then `data`). */
  async document<T>(sql: string, format: 'JSON' | 'JSONCompact', what: string, o: CallOptions = {}): Promise<T> {
    return this.call(what, o, async (signal) => {
      const rs = await this.client.query({ query: sql, format, clickhouse_settings: settingsOf(o), abort_signal: signal });
      return (await rs.json()) as T;
    });
  }

  /** Streams `body` (already in `format`, fields in the order of `columns`) into `table` (a qualified, validated name). */
  async insertStream(table: string, columns: readonly string[], body: Readable, format: 'CSV' | 'TabSeparated', what: string, o: CallOptions = {}): Promise<void> {
    const cols = columns as [string, ...string[]];
    await this.call(what, o, (signal) => this.client.insert({ table, columns: cols, values: body, format, clickhouse_settings: settingsOf(o), abort_signal: signal }));
  }

  /** Inserts a few rows given as objects (JSONEachRow). */
  async insertRows(table: string, rows: Record<string, unknown>[], what: string, o: CallOptions = {}): Promise<void> {
    await this.call(what, o, (signal) => this.client.insert({ table, values: rows, format: 'JSONEachRow', clickhouse_settings: settingsOf(o), abort_signal: signal }));
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async call<T>(what: string, o: CallOptions, fn: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const { signal, done } = this.deadline(o);
    try {
      return await fn(signal);
    } catch (err) {
      // The caller stopped us: its reason, not a ClickHouse failure.
      if (o.signal?.aborted) throw o.signal.reason;
      throw fromClickHouse(err, what, this.url, timedOut(signal, o.signal));
    } finally {
      done();
    }
  }

  /** One signal for the caller's stop and our deadline. */
  private deadline(o: CallOptions): { signal: AbortSignal | undefined; done: () => void } {
    if (o.timeoutMs === undefined) return { signal: o.signal, done: () => undefined };
    const timer = new AbortController();
    const t = setTimeout(() => timer.abort(new DeadlineReached()), o.timeoutMs);
    return { signal: o.signal ? AbortSignal.any([o.signal, timer.signal]) : timer.signal, done: () => clearTimeout(t) };
  }
}

/** TabSeparated rows of numbers; anything else is a bad answer (a column that is not a number). */
export function parseNumberRows(text: string, what: string): number[][] {
  const rows: number[][] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const fields = text.slice(start, end).split('\t');
    const row = new Array<number>(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = f === '\\N' ? NaN : Number(f);
      if (f === '' || Number.isNaN(v)) throw new WarehouseError('CLICKHOUSE_QUERY_FAILED', `ClickHouse answered ${what} with "${f.slice(0, 40)}" where a number belongs (row ${rows.length + 1}, column ${i + 1})`);
      row[i] = v;
    }
    rows.push(row);
    start = end + 1;
  }
  return rows;
}

class DeadlineReached extends Error {
  constructor() {
    super('deadline reached');
  }
}

function timedOut(signal: AbortSignal | undefined, callerSignal: AbortSignal | undefined): boolean {
  return Boolean(signal?.aborted && !callerSignal?.aborted && signal.reason instanceof DeadlineReached);
}

function settingsOf(o: CallOptions): ClickHouseSettings {
  return (o.settings ?? {}) as ClickHouseSettings;
}
