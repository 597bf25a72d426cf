/**
 * The one catalogue of HTTP errors of the API: a code, a status, a message that names the
 * problem. Anything else that escapes a handler is a 500 and is logged.
 */
import { TwinlaneError, UsageError } from '../core/errors.ts';
import { UnsupportedQueryError } from '../core/views.ts';
import { RateLimitedError } from '../core/rate-limit.ts';

export const API_ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  SITE_NOT_FOUND: 404,
  NOT_FOUND: 404,
  NOT_ACCEPTABLE: 406,
  UNSUPPORTED_QUERY: 422,
  RATE_LIMITED: 429,
  NOT_IMPLEMENTED: 501,
  STORE_UNAVAILABLE: 503,
} as const;
export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export class ApiError extends UsageError {
  readonly status: number;
  constructor(code: ApiErrorCode, message: string) {
    super(code, message);
    this.status = API_ERROR_STATUS[code];
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError('BAD_REQUEST', message);
}

/** Maps any error to the status and body the client sees. */
export function toHttpError(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof ApiError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof UnsupportedQueryError) return { status: 422, code: 'UNSUPPORTED_QUERY', message: err.message };
  if (err instanceof RateLimitedError) return { status: 429, code: 'RATE_LIMITED', message: err.message };
  const fastify = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    // Fastify's own client errors: malformed JSON body, wrong content type, body too large.
    return { status: fastify.statusCode, code: 'BAD_REQUEST', message: fastify.message ?? 'bad request' };
  }
  if (err instanceof TwinlaneError && err.retriable) return { status: 503, code: 'STORE_UNAVAILABLE', message: `a store did not answer: ${err.message}` };
  return { status: 500, code: 'INTERNAL', message: 'internal error; the server log has the details' };
}
