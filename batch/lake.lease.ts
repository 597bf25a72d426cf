/**
 * Partition leases fence an archiver that lost a partition but still rolls it (a zombie: paused,
 * or rolling when a rebalance took the partition away). Kafka does not stop it: its files are
 * renamed by the file system, and a commit with its new generation is accepted for any partition.
 *
 * `lake/_leases/<group>/<topic>/p<N>.json` names the partition's owner and an epoch. A new owner
 * takes the lease (epoch + 1) with its first batch of the partition after an assignment, before it
 * reads the committed offset and judges in-flight markers (lake-recovery.ts). An owner places files
 * and commits only while the lease is still its own, checked under the partition's lock file,
 * which the taker holds too: so a late roll either finished placing (and committing) before the
 * take, and the new owner sees its marker and offset, or it is dropped, and the new owner reads its
 * range again.
 *
 * The lock is a PID lock file (core/file-lock.ts): the archivers sharing a lake must share a
 * machine (or a file system whose O_EXCL create is atomic and whose PIDs mean the same).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../core/durable-fs.ts';
import { TwinlaneError } from '../core/errors.ts';
import { acquireFileLock } from '../core/file-lock.ts';
import { sleep } from '../core/processes.ts';

export class LakeLeaseBusyError extends TwinlaneError {
  constructor(path: string, waitedMs: number) {
    super('LAKE_LEASE_LOCKED', `another archiver held ${path} for ${waitedMs} ms (placing or committing a roll); try again`, { retriable: true });
  }
}

interface LeaseRecord {
  epoch: number;
  owner: string;
  at: number;
}

/** Lock waits poll: a holder keeps the lock for one placement or one commit (milliseconds to seconds). */
const POLL_MS = 10;

export class PartitionLeases {
  readonly dir: string;
  /** The epoch this owner took per partition. */
  private readonly held = new Map<number, number>();

  constructor(
    lakeRoot: string,
    group: string,
    topic: string,
    private readonly owner: string,
    private readonly waitMs = 60_000,
  ) {
    this.dir = join(lakeRoot, '_leases', group, topic);
    mkdirSync(this.dir, { recursive: true });
  }

  /** Takes the partition's lease (durable when it resolves); from then on an older owner's roll of it is dropped. */
  async take(partition: number): Promise<number> {
    return this.locked([partition], () => {
      const epoch = (this.read(partition)?.epoch ?? 0) + 1;
      const record: LeaseRecord = { epoch, owner: this.owner, at: Date.now() };
      writeFileAtomic(this.path(partition), JSON.stringify(record));
      this.held.set(partition, epoch);
      return Promise.resolve(epoch);
    });
  }

  /**
   * Runs `fn` under the locks of `partitions` with those whose lease is still this owner's; no
   * owner can take one of them before `fn` ends.
   */
  async whileHeld<T>(partitions: readonly number[], fn: (held: number[]) => Promise<T>): Promise<T> {
    return this.locked(partitions, () => fn(partitions.filter((p) => this.holds(p))));
  }

  private holds(partition: number): boolean {
    const mine = this.held.get(partition);
    const now = this.read(partition);
    return mine !== undefined && now?.owner === this.owner && now.epoch === mine;
  }

  private read(partition: number): LeaseRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.path(partition), 'utf8')) as LeaseRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private path(partition: number): string {
    return join(this.dir, `p${partition}.json`);
  }

  /** Takes the partitions' locks in ascending order (two rolls never wait for each other in a cycle). */
  private async locked<T>(partitions: readonly number[], fn: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    try {
      for (const p of [...new Set(partitions)].sort((a, b) => a - b)) releases.push(await this.lock(p));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  private async lock(partition: number): Promise<() => void> {
    const path = join(this.dir, `p${partition}.lock`);
    const start = Date.now();
    for (;;) {
      try {
        return acquireFileLock(path, { stale: { kind: 'holder-gone' }, busy: () => new LakeLeaseBusyError(path, Date.now() - start) });
      } catch (err) {
        if (!(err instanceof LakeLeaseBusyError) || Date.now() - start > this.waitMs) throw err;
        await sleep(POLL_MS);
      }
    }
  }
}
