/**
 * Device, browser, OS and bot flag from the User-Agent header: bowser (MIT) for the first
 * three, isbot (Unlicense) for the flag. Results are cached because traffic has few distinct
 * agents and many events; the cache is bounded and simply restarts when full.
 */
import Bowser from 'bowser';
import { isbot } from 'isbot';

export interface UserAgentInfo {
  device_type: string;
  browser: string | null;
  os: string | null;
  is_bot: boolean;
}

const DEVICE_TYPES = new Set(['desktop', 'mobile', 'tablet', 'tv', 'bot']);
const UNKNOWN: UserAgentInfo = Object.freeze({ device_type: 'unknown', browser: null, os: null, is_bot: false });

export class UserAgentParser {
  private readonly cache = new Map<string, UserAgentInfo>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly observe: (hit: boolean) => void = () => undefined,
  ) {}

  parse(userAgent: string | undefined): UserAgentInfo {
    if (!userAgent) return UNKNOWN;
    const cached = this.cache.get(userAgent);
    if (cached) {
      this.hits++;
      this.observe(true);
      return cached;
    }
    this.misses++;
    this.observe(false);
    const info = parseUncached(userAgent);
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(userAgent, info);
    return info;
  }
}

function parseUncached(userAgent: string): UserAgentInfo {
  const parsed = Bowser.parse(userAgent);
  const bot = isbot(userAgent);
  const platform = parsed.platform.type ?? '';
  return Object.freeze({
    device_type: bot ? 'bot' : DEVICE_TYPES.has(platform) ? platform : 'unknown',
    browser: parsed.browser.name || null,
    os: parsed.os.name || null,
    is_bot: bot,
  });
}
