import { createRequire } from 'node:module';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createKafka } from './clients.ts';
import { kafkajsIdleFixApplied } from './kafkajs.idle-fix.ts';
import { createLogger } from './logger.ts';
import { testConfig } from '../testing/helpers.ts';

const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as { prototype: { checkPendingRequests(): void } };

describe('kafkajs request queues at rest', () => {
  const producer = createKafka(testConfig(), createLogger({ level: 'silent', pretty: false }), 'idle-fix').producer();
  afterAll(() => producer.disconnect());

  it('set no timer while nothing waits (an idle client used to check its queue every millisecond)', async () => {
    // A newer kafkajs is code this fix was not written against: read it before raising the version.
    expect(kafkajsIdleFixApplied).toBe(true);
    await producer.connect();
    const checks = vi.spyOn(RequestQueue.prototype, 'checkPendingRequests');
    await new Promise((r) => setTimeout(r, 1_000));
    // Unfixed, about a thousand a second per connection; fixed, only the checks after answered requests.
    expect(checks.mock.calls.length).toBeLessThan(20);
    checks.mockRestore();
  });
});
