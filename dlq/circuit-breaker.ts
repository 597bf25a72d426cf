/**
 * Stops a consumer when most of a batch would be dead-lettered: that is a bug or an outage
 * (a broken deploy, a registry that lost its schemas, Redis refusing writes), not bad input,
 * and draining the topic into the DLQ would turn one incident into a replay of everything.
 *
 * Use: count a batch's outcomes, call `check(total, deadLettered)` BEFORE writing the dead
 * letters and committing. It throws CircuitOpenError when the batch trips; the consumer loop
 * then stops without committing (kafkajs: let the error out of eachBatch after `stop()`), so
 * the batch is read again once the cause is fixed and the consumer restarted.
 */
import { TwinlaneError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';

export interface CircuitBreakerOptions {
  /** Name of the consumer, the `consumer` label of the metrics and the alert. */
  consumer: string;
  /** Trips when deadLettered / total is above this fraction (0..1). */
  threshold: number;
  /** Batches smaller than this never trip (two bad events out of three is input, not an outage). */
  minBatch: number;
  metrics: Metrics;
  logger: Logger;
}

export const DEFAULT_BREAKER = { threshold: 0.5, minBatch: 20 } as const;

/** Not retriable on purpose: a restart loop would only trip again. */
export class CircuitOpenError extends TwinlaneError {
  constructor(
    readonly consumer: string,
    readonly total: number,
    readonly deadLettered: number,
    readonly threshold: number,
  ) {
    super(
      'CIRCUIT_OPEN',
      `${consumer}: ${deadLettered} of ${total} records in one batch would be dead-lettered (more than ${Math.round(threshold * 100)}%); stopped without committing`,
      { retriable: false },
    );
  }
}

export class CircuitBreaker {
  private tripped = false;
  private readonly openGauge;
  private readonly trips;

  constructor(private readonly options: CircuitBreakerOptions) {
    if (!(options.threshold >= 0 && options.threshold <= 1)) throw new RangeError(`circuit breaker threshold ${options.threshold} is not a fraction from 0 to 1`);
    if (!(Number.isInteger(options.minBatch) && options.minBatch >= 1)) throw new RangeError(`circuit breaker minBatch ${options.minBatch} is not a whole number >= 1`);
    this.openGauge = options.metrics.gauge('circuit_open', '1 while a consumer is stopped by its circuit breaker', ['consumer']);
    this.trips = options.metrics.counter('circuit_trips_total', 'Batches that tripped a circuit breaker', ['consumer']);
    this.openGauge.set({ consumer: options.consumer }, 0);
  }

  get open(): boolean {
    return this.tripped;
  }

  /** True when a batch of `total` records with `deadLettered` failures would trip (pure). */
  wouldTrip(total: number, deadLettered: number): boolean {
    return total >= this.options.minBatch && total > 0 && deadLettered / total > this.options.threshold;
  }

  /** Throws CircuitOpenError (and alerts) when the batch trips; otherwise returns. */
  check(total: number, deadLettered: number): void {
    if (!this.wouldTrip(total, deadLettered)) return;
    const { consumer, threshold } = this.options;
    this.tripped = true;
    this.openGauge.set({ consumer }, 1);
    this.trips.inc({ consumer });
    this.options.logger.error(
      { event: 'circuit_open', alert: true, consumer, total, dead_lettered: deadLettered, threshold },
      `circuit breaker open: ${deadLettered}/${total} records of one batch would be dead-lettered; consumer stopped without committing`,
    );
    throw new CircuitOpenError(consumer, total, deadLettered, threshold);
  }

  /** Closes the breaker again (after the cause is fixed and the consumer restarts). */
  reset(): void {
    this.tripped = false;
    this.openGauge.set({ consumer: this.options.consumer }, 0);
  }
}
