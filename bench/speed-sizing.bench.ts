/**
 * Part of `make bench ONLY=speed`: what one site's day costs the speed store in Redis, for the
 * sizing table of the README ("Growing past one machine"). One site's last 24 hours of generated
 * traffic (two sizes) are applied the way the consumer applies them (speed/testing applyEvents),
 * then the site's keys are measured with MEMORY USAGE (exact, SAMPLES 0) and deleted.
 * - speed_redis_mb_per_site_day_100k / _500k: MB for a day of 100,000 / 500,000 events
 *   (10,000 / 50,000 visitors, 500 / 2,000 pages);
 * - speed_redis_bytes_per_event: the larger day's bytes per event.
 */
import { loadConfig } from '../core/config.ts';
import { createRedis } from '../core/clients.ts';
import { scanKeys, unlinkKeys } from '../core/redis-client.ts';
import { SpeedKeys } from '../speed/index.ts';
import { applyEvents } from '../speed/testing/speed.fixture.ts';
import { generateTraffic } from '../traffic/index.ts';

const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
const redis = createRedis(config);
const run = `bench-size-${Date.now().toString(36)}`;

async function siteDay(events: number, visitors: number, pages: number): Promise<number> {
  const prefix = `${run}-${events}`;
  const keys = new SpeedKeys(prefix);
  const to = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
  const traffic = [...generateTraffic({ seed: 11, sites: ['site'], from: to - 86_400_000, to, events, visitorsPerSite: visitors, pagesPerSite: pages })];
  // Without the dedupe ids: a live store keeps them only SPEED_DEDUPE_WINDOW (10 min) after they
  // arrive, about 100 bytes per event of that window, not per event of the day.
  await applyEvents({ redis, keys, ttlMs: config.SPEED_TTL }, traffic, 5_000);
  let bytes = 0;
  const all: string[] = [];
  for await (const batch of scanKeys(redis, `${prefix}:*`)) {
    all.push(...batch);
    const pipe = redis.pipeline();
    for (const k of batch) pipe.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    for (const [err, v] of (await pipe.exec()) ?? []) if (!err) bytes += Number(v ?? 0);
  }
  await unlinkKeys(redis, all);
  return bytes;
}

try {
  const small = await siteDay(100_000, 10_000, 500);
  console.log(`bench: speed_redis_mb_per_site_day_100k = ${(small / 1e6).toFixed(1)}`);
  const large = await siteDay(500_000, 50_000, 2_000);
  console.log(`bench: speed_redis_mb_per_site_day_500k = ${(large / 1e6).toFixed(1)}`);
  console.log(`bench: speed_redis_bytes_per_event = ${Math.round(large / 500_000)}`);
} finally {
  redis.disconnect();
}
process.exit(0);
