/**
 * In-flight markers make a roll atomic across the hour folders it touches. Before a roll
 * renames its files into the lake it writes one marker per partition and offset range listing
 * them; the marker goes once Kafka has the offsets. When a partition is (re)assigned, a marker
 * whose range the group has not committed names files of a roll that did not finish: they are
 * deleted and the range is read again, so the lake never holds an event twice.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fsyncDir, writeFileAtomicAsync } from '../core/durable-fs.ts';

export interface InflightMarker {
  topic: string;
  partition: number;
  first: string;
  last: string;
  /** Absolute paths of the roll's final files. */
  files: string[];
}

export class InflightMarkers {
  readonly dir: string;
  constructor(inflightRoot: string, group: string, topic: string) {
    this.dir = join(inflightRoot, group, topic);
    mkdirSync(this.dir, { recursive: true });
  }

  private path(partition: number, first: string, last: string): string {
    return join(this.dir, `p${partition}~o${first}-${last}.json`);
  }

  /** Durable when it resolves: only then may the roll rename files into the lake. */
  write(m: InflightMarker): Promise<void> {
    return writeFileAtomicAsync(this.path(m.partition, m.first, m.last), JSON.stringify(m));
  }

  remove(m: Pick<InflightMarker, 'partition' | 'first' | 'last'>): void {
    rmSync(this.path(m.partition, m.first, m.last), { force: true });
  }

  list(partition: number): InflightMarker[] {
    const prefix = `p${partition}~`;
    return readdirSync(this.dir)
      .filter((n) => n.startsWith(prefix) && n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as InflightMarker);
  }

  /**
   * Settles the markers of a partition given the group's committed offset (the next offset to
   * read; -1 when none). Returns how many files were deleted.
   */
  recover(partition: number, committed: bigint): { kept: number; deleted: number } {
    let kept = 0;
    let deleted = 0;
    for (const m of this.list(partition)) {
      if (committed > BigInt(m.last)) kept += m.files.length;
      else {
        for (const f of m.files) {
          rmSync(f, { force: true });
          deleted++;
        }
        for (const d of new Set(m.files.map((f) => dirname(f)))) fsyncDirIfExists(d);
      }
      this.remove(m);
    }
    return { kept, deleted };
  }
}

function fsyncDirIfExists(dir: string): void {
  try {
    fsyncDir(dir);
  } catch {
    // the folder never got created: nothing to make durable
  }
}
