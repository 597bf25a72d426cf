/**
 * Errors of the ClickHouse part: a closed set of codes, each with its retry verdict. A server
 * error keeps ClickHouse's own numeric code (`serverCode`), read from the `Code: N` that starts
 * every error the HTTP interface returns (18.16 and current releases alike).
 */
import { TwinlaneError, errorMessage } from '../core/errors.ts';

export type WarehouseErrorCode =
  /** No answer: connection refused or reset, socket timeout, DNS. Retriable. */
  | 'CLICKHOUSE_UNAVAILABLE'
  /** Our own deadline or the server's max_execution_time ran out. Retriable. */
  | 'CLICKHOUSE_TIMEOUT'
  /** The server refused the statement; retriable only for the server codes listed below. */
  | 'CLICKHOUSE_QUERY_FAILED'
  /** A write or a settings change in a read-only query (`twinlane sql`). */
  | 'CLICKHOUSE_READONLY'
  /** DuckDB could not read the day from the lake or write the CSV parts. Retriable (files move under compaction). */
  | 'WAREHOUSE_EXPORT_FAILED'
  /** The staging table holds another number of rows than were exported. Retriable. */
  | 'WAREHOUSE_LOAD_MISMATCH'
  /** The lake files of a day lack a column the warehouse needs. */
  | 'WAREHOUSE_LAKE_COLUMNS'
  /** The events table exists with other columns than this version writes. */
  | 'WAREHOUSE_SCHEMA_MISMATCH'
  /** The database mirrors another DATA_DIR: syncing would drop that pipeline's days. */
  | 'WAREHOUSE_OTHER_OWNER'
  /** The warehouse is off or no ClickHouse is configured. */
  | 'WAREHOUSE_NOT_CONFIGURED';

const RETRIABLE: ReadonlySet<WarehouseErrorCode> = new Set(['CLICKHOUSE_UNAVAILABLE', 'CLICKHOUSE_TIMEOUT', 'WAREHOUSE_EXPORT_FAILED', 'WAREHOUSE_LOAD_MISMATCH']);

/**
 * Server error codes that may pass on a later attempt: memory limit (241), too many parts (252),
 * too many simultaneous queries (202), socket/network/timeouts (159, 209, 210), read-only table
 * while a replica reconnects (242), an insert of unknown status (319), ZooKeeper trouble (225, 999).
 */
const RETRIABLE_SERVER_CODES: ReadonlySet<number> = new Set([159, 202, 209, 210, 225, 241, 242, 252, 319, 999]);
const TIMEOUT_SERVER_CODES: ReadonlySet<number> = new Set([159, 209]);
const READONLY_SERVER_CODE = 164;

export class WarehouseError extends TwinlaneError {
  declare readonly code: WarehouseErrorCode;
  constructor(
    code: WarehouseErrorCode,
    message: string,
    options: { cause?: unknown; retriable?: boolean; serverCode?: number } = {},
  ) {
    super(code, message, { retriable: options.retriable ?? RETRIABLE.has(code), cause: options.cause });
    if (options.serverCode !== undefined) this.serverCode = options.serverCode;
  }
  /** ClickHouse's numeric error code, when the server answered with an error. */
  readonly serverCode?: number;
}

/** `Code: 62, e.displayText() = …` (18.16) or `Code: 62. DB::Exception: …` (current). */
const SERVER_CODE = /^\s*Code:\s*(\d+)[.,]/;

function serverCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const m = SERVER_CODE.exec(errorMessage(err));
  return m ? Number(m[1]) : undefined;
}

/** The server's message without the `Code: N, e.displayText() = DB::Exception:` wrapping. */
export function serverMessage(err: unknown): string {
  return errorMessage(err)
    .replace(/^\s*Code:\s*\d+[.,]\s*(e\.displayText\(\) = )?(DB::Exception: )?/, '')
    .replace(/,?\s*e\.what\(\) = DB::Exception\s*$/, '')
    .trim();
}

/**
 * The WarehouseError for a failure of the ClickHouse client while doing `what`. `timedOut` says
 * whether our own deadline aborted the request (read from the signal, never from the message).
 */
export function fromClickHouse(err: unknown, what: string, url: string, timedOut = false): WarehouseError {
  if (err instanceof WarehouseError) return err;
  if (timedOut) return new WarehouseError('CLICKHOUSE_TIMEOUT', `ClickHouse at ${url} did not finish ${what} in time`, { cause: err });
  const serverCode = serverCodeOf(err);
  if (serverCode === undefined) {
    const sys = (err as NodeJS.ErrnoException).code;
    return new WarehouseError('CLICKHOUSE_UNAVAILABLE', `ClickHouse at ${url} is unavailable (${what}): ${sys ? `${sys} ` : ''}${errorMessage(err)}`.trim(), { cause: err });
  }
  const text = serverMessage(err);
  if (serverCode === READONLY_SERVER_CODE) return new WarehouseError('CLICKHOUSE_READONLY', `refused in read-only mode: ${text}`, { cause: err, serverCode });
  if (TIMEOUT_SERVER_CODES.has(serverCode)) return new WarehouseError('CLICKHOUSE_TIMEOUT', `ClickHouse stopped ${what}: ${text}`, { cause: err, serverCode });
  return new WarehouseError('CLICKHOUSE_QUERY_FAILED', `ClickHouse refused ${what} (code ${serverCode}): ${text}`, { cause: err, serverCode, retriable: RETRIABLE_SERVER_CODES.has(serverCode) });
}
