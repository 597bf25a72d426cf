/** Public surface of dlq/: dead-letter types, the writer, the circuit breaker. */
export * from './types.ts';
export { DeadLetterWriter, fromMessage, toHeaders, type NewDeadLetter } from './dead-letter.writer.ts';
export { CircuitBreaker, CircuitOpenError, DEFAULT_BREAKER, type CircuitBreakerOptions } from './circuit-breaker.ts';
