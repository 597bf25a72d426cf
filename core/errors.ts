/**
 * Errors carry a stable code, an optional cause and a retry verdict, so callers decide
 * what to do from `retriable` and `code`, never from message text.
 */
export class TwinlaneError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A configuration value is missing or wrong. Never retriable: fix the environment. */
export class ConfigError extends TwinlaneError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.issues = issues;
  }
}

/** A dependency (Kafka, Redis, registry, disk) failed in a way that may pass. */
export class DependencyError extends TwinlaneError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retriable: true, cause });
  }
}

/** The caller asked for something invalid (bad date, unknown site...). Never retriable. */
export class UsageError extends TwinlaneError {
  constructor(code: string, message: string) {
    super(code, message, { retriable: false });
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof TwinlaneError ? err.retriable : false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
