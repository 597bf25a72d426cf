/**
 * Feeds the SiteRateMonitor from the DLQ archiver's process, so a site whose dead-letter rate
 * crosses DLQ_ALERT_RATE is logged without any other part's help: the accepted events of a
 * site are counted from the events topic's keys (`site:visitor`, nothing is decoded), the
 * rejected ones from the dead letters the archiver stores.
 *
 * The counting consumer starts at the end of the topic and commits nothing of value: it only
 * judges the present.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { KAFKA_RETRY } from '../core/kafka-retry.ts';
import { BaseService } from '../core/lifecycle.ts';
import type { Logger } from '../core/logger.ts';
import type { SiteRateMonitor } from './site-rate.monitor.ts';
import type { DeadLetter } from './types.ts';

/** Stages whose records never reached the events topic: they add to a site's total. */
const BEFORE_TOPIC: ReadonlySet<DeadLetter['stage']> = new Set(['collect', 'validate', 'enrich']);

export interface SiteRateWatcherDeps {
  kafka: Kafka;
  eventsTopic: string;
  groupId: string;
  monitor: SiteRateMonitor;
  logger: Logger;
}

export class SiteRateWatcher extends BaseService {
  readonly name = 'dlq-site-rates';
  private consumer: Consumer | undefined;

  constructor(private readonly deps: SiteRateWatcherDeps) {
    super();
  }

  /** Dead letters of a stored batch: a rejected record counts in its site's total and failures. */
  observeLetters(letters: readonly Pick<DeadLetter, 'siteId' | 'stage'>[], now = Date.now()): void {
    const totals = new Map<string, number>();
    const failed = new Map<string, number>();
    for (const l of letters) {
      if (!l.siteId) continue;
      failed.set(l.siteId, (failed.get(l.siteId) ?? 0) + 1);
      if (BEFORE_TOPIC.has(l.stage)) totals.set(l.siteId, (totals.get(l.siteId) ?? 0) + 1);
    }
    for (const [site, n] of failed) this.deps.monitor.observe(site, totals.get(site) ?? 0, n, now);
  }

  protected async onStart(): Promise<void> {
    const consumer = this.deps.kafka.consumer({ groupId: this.deps.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 1_000, retry: KAFKA_RETRY.DLQ_CONSUMER });
    await consumer.connect();
    this.consumer = consumer;
    try {
      await consumer.subscribe({ topic: this.deps.eventsTopic, fromBeginning: false });
      await consumer.run({ autoCommit: true, eachBatch: (p) => this.countBatch(p) });
    } catch (err) {
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  protected async onStop(): Promise<void> {
    const c = this.consumer;
    this.consumer = undefined;
    await c?.disconnect();
  }

  private async countBatch({ batch }: EachBatchPayload): Promise<void> {
    const counts = new Map<string, number>();
    for (const m of batch.messages) {
      const key = m.key?.toString('utf8');
      const colon = key ? key.indexOf(':') : -1;
      if (colon > 0) counts.set(key!.slice(0, colon), (counts.get(key!.slice(0, colon)) ?? 0) + 1);
    }
    const now = Date.now();
    for (const [site, n] of counts) this.deps.monitor.observe(site, n, 0, now);
  }
}
