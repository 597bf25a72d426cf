const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses `250ms`, `30s`, `5m`, `48h`, `7d` or a bare number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'ms').toLowerCase()]!);
}

/** Parses `512kb`, `1mb`, `2gb` or a bare number of bytes. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

/** At most `max` requests per `windowMs`; `max` 0: no limit. */
export interface RateRule {
  max: number;
  windowMs: number;
}

export const NO_LIMIT: RateRule = { max: 0, windowMs: 60_000 };

/** `off`, or `<requests>/<window>` such as `6000/1m`. */
export function parseRateRule(text: string): RateRule | undefined {
  if (text === 'off') return NO_LIMIT;
  const m = /^(\d{1,9})\/(.+)$/.exec(text.trim());
  const windowMs = m ? parseDuration(m[2]!) : undefined;
  if (!m || windowMs === undefined || windowMs < 1_000) return undefined;
  return { max: Number(m[1]), windowMs };
}
