/**
 * A one-shot answer to "does any Kafka broker answer?", without the client's retries: used when a
 * process stops, to tell a slow drain (worth waiting for) from a broker that is gone (nothing
 * left to commit can be committed, and kafkajs would retry for tens of seconds).
 */
import { Kafka, logLevel } from 'kafkajs';
import { KAFKA_RETRY } from './kafka-retry.ts';
import type { StopDeadline } from './lifecycle.ts';

/** Whether a broker of `brokers` answers a metadata request within about `timeoutMs` (one attempt). */
export async function brokerReachable(brokers: readonly string[], timeoutMs = 1_000): Promise<boolean> {
  const admin = new Kafka({ clientId: 'twinlane-probe', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: KAFKA_RETRY.PROBE, connectionTimeout: timeoutMs, requestTimeout: timeoutMs }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * For `runServices`: a consumer process whose broker is gone stops within `graceMs` (its local
 * work, such as a Parquet roll, gets that long; its offsets could not be committed anyway, so
 * the records are read again after a restart, as after a crash).
 */
export function stopSoonWithoutBroker(brokers: readonly string[], graceMs = 3_000): StopDeadline {
  return async () => ((await brokerReachable(brokers)) ? undefined : { ms: graceMs, reason: `no Kafka broker answers at ${brokers.join(',')}` });
}
