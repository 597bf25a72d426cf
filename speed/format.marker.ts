/**
 * The speed store's data-format marker (core/data-format.ts): one string key `P:format` holding
 * `{format, writtenBy, at}`, never with a TTL (SET without EX drops any), so it outlives the
 * buckets. The store counts as empty when the set of sites is gone: every write adds to it and
 * refreshes its TTL, so it lives as long as the newest bucket.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../core/redis-client.ts';
import { DataFormatError, parseFormatMarker, type FormatMarker, type FormatMarkerStore } from '../core/data-format.ts';
import type { SpeedKeys } from './redis.keys.ts';

/** A migration of the speed store runs for minutes at most; a lock of a migrator that died frees itself. */
const LOCK_TTL_MS = 10 * 60_000;
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export class SpeedFormatMarker implements FormatMarkerStore {
  readonly where: string;

  constructor(private readonly redis: RedisClient, private readonly keys: SpeedKeys) {
    this.where = `speed store ${keys.prefix} in Redis`;
  }

  async read(): Promise<FormatMarker | undefined> {
    const raw = await this.redis.get(this.keys.format);
    return raw === null ? undefined : parseFormatMarker(raw, this.where);
  }

  async create(marker: FormatMarker): Promise<boolean> {
    return (await this.redis.set(this.keys.format, JSON.stringify(marker), 'NX')) === 'OK';
  }

  async write(marker: FormatMarker): Promise<void> {
    await this.redis.set(this.keys.format, JSON.stringify(marker));
  }

  async isEmpty(): Promise<boolean> {
    return (await this.redis.exists(this.keys.sites)) === 0;
  }

  async lock(owner: string): Promise<() => Promise<void>> {
    const key = `${this.keys.format}:lock`;
    const token = `${owner} ${randomUUID()}`;
    if ((await this.redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      const holder = await this.redis.get(key);
      throw new DataFormatError('DATA_FORMAT_LOCKED', `${this.where} is being migrated by ${holder ? holder.slice(0, holder.lastIndexOf(' ')) : 'another process'}; wait for it to finish (the lock ${key} expires by itself)`, this.where, null, 0, { retriable: true });
    }
    return async () => void (await this.redis.eval(RELEASE, 1, key, token));
  }
}
