/** Public surface of dlq/: dead-letter types, the writer, the store, the archiver, the circuit breaker and the rate monitor. */
export * from './types.ts';
export { DeadLetterWriter, fromMessage, redactLetter, metadataProblems, sourceLetterId, toHeaders, type NewDeadLetter } from './dead-letter.writer.ts';
export { CircuitBreaker, CircuitOpenError, DEFAULT_BREAKER, type CircuitBreakerOptions } from './circuit-breaker.ts';
export { classifyDecodeFailure, decodeDeadLetter, type DecodeFailure, type DecodeFailureCode } from './decode-failure.classifier.ts';
export { SiteRateMonitor, type SiteRateMonitorOptions } from './site-rate.monitor.ts';
export { SiteRateWatcher, type SiteRateWatcherDeps } from './site-rate.watcher.ts';
export { DeadLetterStore } from './dead-letter.store.ts';
export { letterMatches, avroString, type ErasureTarget } from './letter.erasure.ts';
export { DlqArchiver, type DlqArchiverDeps } from './dlq.archiver.ts';
export { dlqArchiverGroup } from './options.ts';
export { formatLetter, formatList, formatStats, formatSummary, hexDump } from './letter.format.ts';
export { LIST_LIMIT } from './options.ts';
export { DeadLetterReplayer, describeFilter, type ReplayDeps, type ReplayOptions, type ReplayRoute, type RouteLanding, type ReplaySink, type ReplaySummary, type ReplayVerdict } from './dead-letter.replayer.ts';
export { RecordPreparer, TransformError, replayEventId, type Transform, type TransformInput, type PreparedEvent, type PreparedRecord, type Preparation, type PreparerDeps } from './record.preparer.ts';
