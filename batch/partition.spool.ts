/**
 * Decoded events of one Kafka partition waiting for the next roll, as CSV lines on local disk:
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

  /** Appends `count` serialised lines (UTF-8, each ending in a newline) covering offsets [first, last]. */
  append(lines: Uint8Array, count: number, first: bigint, last: bigint): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'w');
    for (let at = 0; at < lines.length; ) at += writeSync(this.fd, lines, at, lines.length - at);
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
