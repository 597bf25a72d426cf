/** Public surface of dlq/: dead-letter types, the writer, the store, the archiver, the circuit breaker and the rate monitor. */
export * from './types.ts';
export { DeadLetterWriter, fromMessage, metadataProblems, toHeaders, type NewDeadLetter } from './dead-letter.writer.ts';
export { CircuitBreaker, CircuitOpenError, DEFAULT_BREAKER, type CircuitBreakerOptions } from './circuit-breaker.ts';
export { SiteRateMonitor, type SiteRateMonitorOptions } from './site-rate.monitor.ts';
export { SiteRateWatcher, type SiteRateWatcherDeps } from './site-rate.watcher.ts';
export { DeadLetterStore } from './dead-letter.store.ts';
export { DlqArchiver, type DlqArchiverDeps } from './dlq.archiver.ts';
export { dlqArchiverGroup } from './options.ts';
