/**
 * Connection, request and header limits of our HTTP servers (the collector, the serving API):
 * a slow or idle client holds a socket only so long, and headers stay small, whatever it sends.
 * Node's own defaults allow a request five minutes and keep-alive sockets open for 72 s under
 * Fastify, and check header and request timeouts only every 30 s.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ConfigValues } from './config.ts';

export interface HttpLimits {
  /** Whole request, first byte to last (ms): a body trickled in is cut at this. */
  requestTimeoutMs: number;
  /** Until the request's headers are in (ms): slowloris. */
  headersTimeoutMs: number;
  /** An idle keep-alive socket is closed after this (ms). */
  keepAliveTimeoutMs: number;
  /** A socket without any traffic is closed after this (ms). */
  idleTimeoutMs: number;
  /** Bytes of the request line and headers together; more is a 431. */
  maxHeaderBytes: number;
  /** Header fields of one request; the rest are dropped by Node. */
  maxHeadersCount: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
  maxHeadersCount: 100,
};

/** The limits configured (HTTP_*). */
export function httpLimitsOf(c: ConfigValues): HttpLimits {
  return {
    requestTimeoutMs: c.HTTP_REQUEST_TIMEOUT,
    headersTimeoutMs: c.HTTP_HEADERS_TIMEOUT,
    keepAliveTimeoutMs: c.HTTP_KEEPALIVE_TIMEOUT,
    idleTimeoutMs: c.HTTP_IDLE_TIMEOUT,
    maxHeaderBytes: c.HTTP_MAX_HEADER_SIZE,
    maxHeadersCount: DEFAULT_HTTP_LIMITS.maxHeadersCount,
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Fastify options that create the server with these limits (Fastify's serverFactory). The header
 * and request timeouts are checked every second (Node checks every 30 s by default), so a stalled
 * client goes within about a second of its limit.
 */
export function httpServerOptions(limits: HttpLimits = DEFAULT_HTTP_LIMITS): { serverFactory: (handler: Handler) => Server; connectionTimeout: number; keepAliveTimeout: number; requestTimeout: number } {
  return {
    serverFactory: (handler) => {
      const server = createServer(
        {
          maxHeaderSize: limits.maxHeaderBytes,
          requestTimeout: limits.requestTimeoutMs,
          headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          connectionsCheckingInterval: 1_000,
        },
        handler,
      );
      server.maxHeadersCount = limits.maxHeadersCount;
      return server;
    },
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
  };
}
