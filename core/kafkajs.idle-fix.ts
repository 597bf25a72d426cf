/**
 * kafkajs 2.2.4 keeps every broker connection's request queue in a timer loop: with no request
 * waiting, `scheduleCheckPendingRequests` sets a timeout of (-1 − now) ms, which Node runs after
 * 1 ms, which checks nothing and schedules itself again (tulios/kafkajs#1556; the fix, #1667, was
 * never released and kafkajs has had no release since). Every process with a Kafka client woke
 * about a thousand times a second per connection: an idle speed consumer used 4–5% of a core.
 * A check only has work when a request waits, and every request that waits schedules one itself
 * (`push`), as does each answered request (`fulfillRequest`); so with none waiting this returns
 * without a timer, and with one it behaves as before (throttling included).
 * Imported for its effect by core/clients.ts, which every process that talks to Kafka loads.
 */
import { createRequire } from 'node:module';

interface RequestQueueProto {
  pending: unknown[];
  scheduleCheckPendingRequests(this: RequestQueueProto): void;
}

const requireCjs = createRequire(import.meta.url);
const PATCHED_VERSION = '2.2.4';

/** Whether the patch is in place (false when kafkajs is another version: its code was not read). */
export const kafkajsIdleFixApplied: boolean = (() => {
  const { version } = requireCjs('kafkajs/package.json') as { version: string };
  if (version !== PATCHED_VERSION) return false;
  const RequestQueue = requireCjs('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueueProto };
  const original = RequestQueue.prototype.scheduleCheckPendingRequests;
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueProto) {
    if (this.pending.length === 0) return;
    original.call(this);
  };
  return true;
})();
