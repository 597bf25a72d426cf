/**
 * Throughput of the event codec (validation + Avro + Confluent framing), and of the
 * registry's write and read paths. Used by bench/schemas.bench.ts; importable by other
 * benches (the collector's) that want the same figures.
 */
import { randomUUID } from 'node:crypto';
import { EventCodec, type RegistryClient } from './event.codec.ts';
import type { TwinlaneEvent } from './event.ts';

export function sampleEvents(n: number): TwinlaneEvent[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    event_id: randomUUID(), site_id: `site-${i % 20}`, type: i % 50 === 0 ? 'purchase' : i % 7 === 0 ? 'custom' : 'pageview',
    name: i % 50 === 0 ? 'purchase' : i % 7 === 0 ? 'signup_click' : 'pageview', event_time: now - i, received_time: now,
    visitor_id: `v-${i % 5000}`, session_id: `s-${i % 9000}`, url: `https://site-${i % 20}.example/products/${i % 300}?utm_source=news`,
    path: `/products/${i % 300}`, hostname: `site-${i % 20}.example`, referrer: i % 3 ? 'https://www.google.com/' : null,
    referrer_host: i % 3 ? 'www.google.com' : null, title: `Product ${i % 300}`, utm_source: 'news', utm_medium: 'email',
    utm_campaign: 'spring', utm_term: null, utm_content: null, country: ['DE', 'FR', 'US', 'GB'][i % 4]!, device_type: i % 2 ? 'mobile' : 'desktop',
    browser: i % 2 ? 'Safari' : 'Chrome', os: i % 2 ? 'iOS' : 'Windows', is_bot: false, ip_hash: 'f3a9c2d1e0b4', time_adjusted: false,
    properties: (i % 7 === 0 ? { plan: 'pro', position: String(i % 10) } : {}) as Record<string, string>, revenue_micros: i % 50 === 0 ? 49_900_000 : null,
    currency: i % 50 === 0 ? 'EUR' : null, screen_width: 1280,
  }));
}

export interface CodecFigures {
  encodePerS: number;
  decodePerS: number;
  bytesPerEvent: number;
}

/** Encodes and decodes `n` events `rounds` times; figures of the median round. */
export async function benchmarkCodec(registry: RegistryClient, topic: string, n = 200_000, rounds = 5): Promise<CodecFigures> {
  const codec = new EventCodec(registry, topic);
  await codec.init();
  const events = sampleEvents(10_000);
  const encoded = events.map((e) => codec.encode(e));
  const enc: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) codec.encode(events[i % events.length]!);
    enc.push(n / (Number(process.hrtime.bigint() - t) / 1e9));
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) codec.decodeCached(encoded[i % encoded.length]!);
    dec.push(n / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { encodePerS: median(enc), decodePerS: median(dec), bytesPerEvent: encoded.reduce((s, b) => s + b.length, 0) / encoded.length };
}

export interface RegistryFigures {
  registerPerS: number;
  lookupPerS: number;
  lookupP99Ms: number;
}

/** New schemas registered one after another (each a Kafka round trip), then id look-ups. */
export async function benchmarkRegistry(url: string, registrations = 100, lookups = 5_000, concurrency = 16): Promise<RegistryFigures> {
  const subject = `bench-${randomUUID().slice(0, 8)}-value`;
  await fetch(new URL(`/config/${subject}`, url), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"compatibility":"NONE"}' });
  const ids: number[] = [];
  let t = process.hrtime.bigint();
  for (let i = 0; i < registrations; i++) {
    const schema = JSON.stringify({ type: 'record', name: `B${i}`, fields: [{ name: `f${i}`, type: 'int' }] });
    const res = await fetch(new URL(`/subjects/${subject}/versions`, url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema }) });
    if (!res.ok) throw new Error(`register answered ${res.status}: ${await res.text()}`);
    ids.push(((await res.json()) as { id: number }).id);
  }
  const registerPerS = registrations / (Number(process.hrtime.bigint() - t) / 1e9);
  const latencies: number[] = [];
  let next = 0;
  t = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < lookups) {
        const id = ids[next++ % ids.length]!;
        const t0 = performance.now();
        const res = await fetch(new URL(`/schemas/ids/${id}`, url));
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const lookupPerS = lookups / (Number(process.hrtime.bigint() - t) / 1e9);
  await fetch(new URL(`/subjects/${subject}`, url), { method: 'DELETE' });
  await fetch(new URL(`/subjects/${subject}?permanent=true`, url), { method: 'DELETE' });
  latencies.sort((a, b) => a - b);
  return { registerPerS, lookupPerS, lookupP99Ms: latencies[Math.floor(latencies.length * 0.99)]! };
}
