/**
 * Decoded events of one Kafka partition waiting for the next roll, as JSON lines on local disk:
 * memory stays bounded whatever the volume, and DuckDB turns the file into Parquet with its own
 * threads. A spool is disposable: it only holds offsets that are not committed yet.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';

export class PartitionSpool {
  rows = 0;
  first: bigint | undefined;
  last: bigint | undefined;
  readonly openedAt = Date.now();
  private fd: number | undefined;

  constructor(
    readonly partition: number,
    readonly path: string,
  ) {}

  /** Appends pre-serialised lines covering offsets [first, last]. */
  append(lines: string, count: number, first: bigint, last: bigint): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'w');
    if (count > 0) writeSync(this.fd, lines);
    this.rows += count;
    this.first ??= first;
    this.last = last;
  }

  /** Closes the file and keeps it for the roll that reads it. */
  seal(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  discard(): void {
    this.seal();
    rmSync(this.path, { force: true });
  }
}
