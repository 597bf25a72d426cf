/**
 * Public surface of sdk/: the Node.js client of the collector (typed events, batching,
 * client-made event ids, retries honouring Retry-After, a bounded queue) and its transport.
 */
export { TwinlaneClient } from './twinlane.client.ts';
export { CollectTransport, type CollectTarget, type SendResult } from './collect.transport.ts';
export { TwinlaneSdkError, type SdkErrorCode } from './sdk.errors.ts';
export { parseClientOptions, parseTransportOptions, type ClientOptionsInput, type ClientOptions, type TransportOptionsInput, type TransportOptions, type RetryOptions, type ClientHooks } from './options.ts';
export { parseRetryAfter, backoffDelay } from './retry.policy.ts';
export type * from './types.ts';
