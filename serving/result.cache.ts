/**
 * A small LRU of promises: concurrent misses for one key share one load, a failed load is
 * forgotten at once, and an entry may carry a time-to-live. Batch results are cached under
 * their batch version (immutable, no TTL); speed results only for a short TTL, if at all.
 * Bounded in entries and in bytes (an estimate of each answer's heap size, taken once it has
 * loaded): the least recently used answers leave first, and an answer larger than a quarter of
 * the bound is used once and not kept, whatever range a client asks for.
 */
export interface CacheStats {
  hits: number;
  misses: number;
}

interface Entry {
  value: Promise<unknown>;
  expires: number;
  /** Estimated heap bytes of the loaded answer (0 while it loads). */
  bytes: number;
}

export class ResultCache {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
    private readonly maxBytes = Infinity,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes of the answers held. */
  get bytes(): number {
    return this.totalBytes;
  }

  async getOrLoad<T>(key: string, load: () => Promise<T>, ttlMs = Infinity, onHit?: (hit: boolean) => void): Promise<T> {
    const now = this.clock();
    const found = this.entries.get(key);
    if (found && found.expires > now) {
      // Re-insert so the Map's order is least-recently-used first.
      this.entries.delete(key);
      this.entries.set(key, found);
      this.stats.hits++;
      onHit?.(true);
      return found.value as Promise<T>;
    }
    this.stats.misses++;
    onHit?.(false);
    const value = load();
    const entry: Entry = { value, expires: now + ttlMs, bytes: 0 };
    this.remove(key);
    this.entries.set(key, entry);
    value.then(
      (v) => {
        if (this.entries.get(key) !== entry || this.maxBytes === Infinity) return;
        entry.bytes = estimateBytes(v);
        this.totalBytes += entry.bytes;
        if (entry.bytes > this.maxBytes / 4) this.remove(key);
        this.evict();
      },
      () => {
        if (this.entries.get(key) === entry) this.remove(key);
      },
    );
    this.evict();
    return value;
  }

  clear(): void {
    this.entries.clear();
    this.totalBytes = 0;
  }

  private remove(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.totalBytes -= e.bytes;
  }

  private evict(): void {
    while (this.entries.size > this.maxEntries || (this.totalBytes > this.maxBytes && this.entries.size > 0)) this.remove(this.entries.keys().next().value!);
  }
}

/**
 * Heap bytes of a value, roughly (V8: a string is about its length in bytes plus a header, a
 * number 8, an object or array a header and a slot per field): enough to keep the cache within a
 * bound, walked once per answer.
 */
export function estimateBytes(v: unknown, depth = 0): number {
  if (typeof v === 'string') return 16 + v.length;
  if (typeof v !== 'object' || v === null || depth > 8) return 8;
  let n = 32;
  if (Array.isArray(v)) {
    for (const x of v) n += 8 + estimateBytes(x, depth + 1);
  } else if (v instanceof Map) {
    for (const [k, x] of v) n += 16 + estimateBytes(k, depth + 1) + estimateBytes(x, depth + 1);
  } else if (v instanceof Set) {
    for (const x of v) n += 8 + estimateBytes(x, depth + 1);
  } else if (ArrayBuffer.isView(v)) {
    n += v.byteLength;
  } else {
    for (const [k, x] of Object.entries(v)) n += 8 + k.length + estimateBytes(x, depth + 1);
  }
  return n;
}
