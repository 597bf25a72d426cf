/** Unit-test fixtures of the ingest part: a ready pipeline. */
import { EventCodec } from '../../schemas/index.ts';
import { parseSites, type Sites } from '../../core/sites.ts';
import { EventEnricher } from '../event.enricher.ts';
import { EventPipeline } from '../event.pipeline.ts';
import { IpHasher } from '../ip.hasher.ts';
import type { ClockSkewOptions } from '../clock-skew.policy.ts';
import { UserAgentParser } from '../user-agent.parser.ts';
import { MemoryRegistryClient } from '../../schemas/index.ts';

export const TEST_SITES = ['alpha', 'beta', 'gamma'];

export function testSites(): Sites {
  return parseSites({
    sites: TEST_SITES.map((id) => ({ id, writeKey: `wk_${id}_secret`, readKey: `rk_${id}_secret`, allowedOrigins: [`https://${id}.example`] })),
  });
}

export async function testPipeline(clockSkew: Partial<ClockSkewOptions> = {}, now: () => number = Date.now): Promise<{ pipeline: EventPipeline; codec: EventCodec; sites: Sites }> {
  const codec = new EventCodec(new MemoryRegistryClient(), 'test.events');
  await codec.init();
  const sites = testSites();
  const enricher = new EventEnricher({ userAgents: new UserAgentParser(), ipHasher: new IpHasher(86_400_000, now) });
  const pipeline = new EventPipeline({ sites, encoder: codec, enricher, clockSkew: { futureMs: 600_000, pastMs: 7 * 86_400_000, policy: 'adjust', ...clockSkew } });
  return { pipeline, codec, sites };
}
