import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.ts';
import { Metrics } from '../core/metrics.ts';
import { createTopic, kafkaClient, runCleanups, testConfig, uniqueName, waitUntil } from '../testing/helpers.ts';
import { SiteRateMonitor } from './site-rate.monitor.ts';
import { SiteRateWatcher } from './site-rate.watcher.ts';

const config = testConfig();

describe('SiteRateWatcher (real Kafka)', () => {
  afterAll(runCleanups);

  it('alerts for the site whose rejected share crosses DLQ_ALERT_RATE, from event keys and stored letters', async () => {
    const topic = await createTopic(config, 'rates', 2);
    const kafka = kafkaClient(config);
    const metrics = new Metrics();
    // A day-long window, so the test never straddles a window boundary.
    const monitor = new SiteRateMonitor({ alertRate: 0.05, windowMs: 86_400_000, minRecords: 20, stage: 'pipeline', metrics, logger: silentLogger() });
    const groupId = uniqueName('rates');
    const watcher = new SiteRateWatcher({ kafka, eventsTopic: topic, groupId, monitor, logger: silentLogger() });
    await watcher.start();
    const admin = kafka.admin();
    await admin.connect();
    await waitUntil('watcher joined', async () => (await admin.describeGroups([groupId])).groups[0]!.state === 'Stable', 30_000, 200);
    await admin.disconnect();

    const producer = kafka.producer();
    await producer.connect();
    const keys = [...Array.from({ length: 100 }, (_, i) => `shop:v${i}`), ...Array.from({ length: 100 }, (_, i) => `blog:v${i}`), 'no-site-key'];
    await producer.send({ topic, messages: keys.map((key) => ({ key, value: 'x' })) });
    await producer.disconnect();
    await waitUntil('every key counted', () => monitor.current('shop').total === 100 && monitor.current('blog').total === 100, 30_000, 100);

    // 10 rejected at the collector for shop (10 / 110 > 5%), 2 for blog (2 / 102 < 5%).
    watcher.observeLetters([...Array.from({ length: 10 }, () => ({ siteId: 'shop', stage: 'validate' as const })), { siteId: 'blog', stage: 'collect' }, { siteId: 'blog', stage: 'collect' }, { stage: 'decode' }]);
    await watcher.stop();
    const text = await metrics.text();
    expect(text).toContain('twinlane_site_dead_letter_alerts_total{stage="pipeline",site="shop"} 1');
    expect(text).not.toContain('site_dead_letter_alerts_total{stage="pipeline",site="blog"}');
    expect(text).toMatch(/twinlane_site_dead_letter_rate\{stage="pipeline",site="shop"\} 0\.0909/);
  });
});
