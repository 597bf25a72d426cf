/**
 * A small LRU of promises: concurrent misses for one key share one load, a failed load is
 * forgotten at once, and an entry may carry a time-to-live. Batch results are cached under
 * their batch version (immutable, no TTL); speed results only for a short TTL, if at all.
 */
export interface CacheStats {
  hits: number;
  misses: number;
}

export class ResultCache {
  private readonly entries = new Map<string, { value: Promise<unknown>; expires: number }>();
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(private readonly maxEntries: number, private readonly clock: () => number = Date.now) {}

  get size(): number {
    return this.entries.size;
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
    this.entries.set(key, { value, expires: now + ttlMs });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
