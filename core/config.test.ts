import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, parseConfig } from './config.ts';
import { ConfigError } from './errors.ts';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = parseConfig({});
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(c.SPEED_TTL).toBe(72 * 3_600_000);
    expect(c.COLLECTOR_BODY_LIMIT).toBe(1024 * 1024);
    expect(c.LOG_PRETTY).toBe(false);
  });

  it('parses durations, sizes, lists and booleans', () => {
    const c = parseConfig({ SPEED_TTL: '3d', COLLECTOR_BODY_LIMIT: '512kb', KAFKA_BROKERS: 'a:1, b:2', LOG_PRETTY: 'yes', COLLECTOR_LINGER: '250ms' });
    expect(c.SPEED_TTL).toBe(3 * 86_400_000);
    expect(c.COLLECTOR_BODY_LIMIT).toBe(512 * 1024);
    expect(c.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(c.LOG_PRETTY).toBe(true);
    expect(c.COLLECTOR_LINGER).toBe(250);
  });

  it('rejects a bad value with a message naming the variable and what is expected', () => {
    expect(() => parseConfig({ SPEED_TTL: 'forever' })).toThrowError(/SPEED_TTL="forever": expected a duration/);
    expect(() => parseConfig({ COLLECTOR_PORT: '70000' })).toThrowError(/COLLECTOR_PORT="70000": expected a whole number from 0 to 65535/);
    expect(() => parseConfig({ REDIS_URL: 'localhost:6379' })).toThrowError(/REDIS_URL=.*expected a URL starting with redis:/);
    expect(() => parseConfig({ SESSION_IDLE_TIMEOUT: '30s' })).toThrowError(/SESSION_IDLE_TIMEOUT="30s": expected at least 1m/);
    expect(parseConfig({ SESSION_IDLE_TIMEOUT: '1m' }).SESSION_IDLE_TIMEOUT).toBe(60_000);
  });

  it('reports every problem at once and checks cross-field rules', () => {
    try {
      parseConfig({ KAFKA_BROKERS: 'nohostport', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toHaveLength(2);
      expect((err as ConfigError).retriable).toBe(false);
    }
    expect(() => parseConfig({ KAFKA_PORT: '9000', KAFKA_CONTROLLER_PORT: '9000' })).toThrowError(/must differ from KAFKA_PORT/);
    expect(() => parseConfig({ SPEED_TTL: '30m' })).toThrowError(/at least 2h/);
  });

  it('is fully documented in the README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const [name, [def]] of Object.entries(CONFIG_VARIABLES)) {
      expect(readme, name).toContain(`| \`${name}\` | \`${def}\` |`);
    }
  });
});
