import { describe, expect, it } from 'vitest';
import type { TwinlaneEvent } from '../schemas/index.ts';
import { testPipeline, TEST_SITES } from './testing/pipeline.fixture.ts';
import { generateTraffic } from '../traffic/index.ts';
import { clientContext, MALFORMATIONS, toCollectorJson } from '../traffic/index.ts';
import type { CollectContext } from './types.ts';

const NOW = Date.UTC(2025, 5, 15, 12, 0, 0);
const ctx = (over: Partial<CollectContext> = {}): CollectContext => ({ siteId: 'alpha', writeKey: 'wk_alpha_secret', ip: '146.78.161.249', userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', receivedAt: NOW, ...over });
const base = { type: 'pageview', url: 'https://alpha.example/pricing?utm_source=news&utm_medium=email', visitor: 'v1', session: 's1', ts: NOW - 1000 };
const raw = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('EventPipeline', () => {
  it('turns generated traffic back into exactly the generated events (enrichment round trip)', async () => {
    const { pipeline, codec } = await testPipeline();
    const events = [...generateTraffic({ seed: 7, sites: TEST_SITES, from: NOW - 3_600_000, to: NOW, events: 3000, botFraction: 0.05 })];
    expect(new Set(events.map((e) => `${e.device_type}/${e.country}`)).size).toBeGreaterThan(50);
    for (const generated of events) {
      const receivedAt = generated.event_time + 250;
      const out = pipeline.process(raw(toCollectorJson(generated)), { siteId: generated.site_id, writeKey: `wk_${generated.site_id}_secret`, ...clientContext(generated), receivedAt });
      if (out.kind !== 'ok') throw new Error(`${generated.event_id}: ${JSON.stringify(out)}`);
      const expected: TwinlaneEvent = { ...generated, received_time: receivedAt, ip_hash: out.value.event.ip_hash };
      expect(out.value.event).toEqual(expected);
      expect(out.value.event.ip_hash).toMatch(/^[0-9a-f]{16}$/);
      expect(out.value.key).toBe(`${generated.site_id}:${generated.visitor_id}`);
      expect((await codec.decode(out.value.bytes)).event).toEqual(expected);
    }
  });

  it('gives every malformation of the load generator its announced code and field', async () => {
    const { pipeline } = await testPipeline();
    const [e] = generateTraffic({ seed: 1, sites: ['alpha'], from: NOW - 60_000, to: NOW, events: 1 });
    for (const m of MALFORMATIONS) {
      const out = pipeline.process(Buffer.from(m.make(toCollectorJson(e!))), ctx());
      expect(out, m.kind).toMatchObject({ kind: 'dead-letter', code: m.code, field: m.field });
    }
  });

  it('derives URL parts and UTM tags, and a cookieless visitor when none is sent', async () => {
    const { pipeline } = await testPipeline();
    const out = pipeline.process(raw({ type: 'pageview', url: 'https://alpha.example/a/b?utm_source=x&utm_term=t', referrer: 'https://www.google.com/search?q=1', title: 'T' }), ctx());
    expect(out.kind).toBe('ok');
    if (out.kind !== 'ok') return;
    const ev = out.value.event;
    expect(ev).toMatchObject({ path: '/a/b', hostname: 'alpha.example', utm_source: 'x', utm_term: 't', utm_medium: null, referrer_host: 'www.google.com', country: 'US', browser: 'Firefox', os: 'Linux', device_type: 'desktop', is_bot: false, event_time: NOW, time_adjusted: false });
    expect(ev.visitor_id).toMatch(/^h-[0-9a-f]{16}$/);
    expect(ev.session_id).toBe(ev.visitor_id);
    const again = pipeline.process(raw({ type: 'pageview', url: 'https://alpha.example/' }), ctx());
    const otherIp = pipeline.process(raw({ type: 'pageview', url: 'https://alpha.example/' }), ctx({ ip: '217.119.192.57' }));
    expect(again.kind === 'ok' && again.value.event.visitor_id).toBe(ev.visitor_id);
    expect(otherIp.kind === 'ok' && otherIp.value.event.visitor_id).not.toBe(ev.visitor_id);
    expect(otherIp.kind === 'ok' && otherIp.value.event.country).toBe('DE');
  });

  it('never stores the raw IP and changes its hash when the salt rotates', async () => {
    let now = NOW;
    const { pipeline } = await testPipeline({}, () => now);
    const first = pipeline.process(raw(base), ctx());
    expect(JSON.stringify(first)).not.toContain('146.78.161.249');
    const sameDay = pipeline.process(raw(base), ctx());
    now += 86_400_000;
    const nextDay = pipeline.process(raw(base), ctx());
    const hash = (o: typeof first) => (o.kind === 'ok' ? o.value.event.ip_hash : undefined);
    expect(hash(sameDay)).toBe(hash(first));
    expect(hash(nextDay)).not.toBe(hash(first));
  });

  it('redacts e-mail addresses and card numbers in URLs, referrers, titles and properties', async () => {
    const { pipeline } = await testPipeline();
    const out = pipeline.process(
      raw({ ...base, url: 'https://alpha.example/account?email=jane.doe%40mail.example&ref=1', referrer: 'https://x.example/?u=bob@corp.example', title: 'Card 4111 1111 1111 1111 ok', props: { note: 'mail me: a.b@c.io', card: '5500-0000-0000-0004', order: '1234567890123', ts: '1700000000000' } }),
      ctx(),
    );
    expect(out.kind).toBe('ok');
    if (out.kind !== 'ok') return;
    const e = out.value.event;
    expect(e.url).toBe('https://alpha.example/account?email=[email]&ref=1');
    expect(e.referrer).toBe('https://x.example/?u=[email]');
    expect(e.title).toBe('Card [card] ok');
    expect(e.properties).toEqual({ note: 'mail me: [email]', card: '[card]', order: '1234567890123', ts: '1700000000000' });
  });

  it('converts revenue exactly to micro-units and refuses what cannot be exact', async () => {
    const { pipeline } = await testPipeline();
    const buy = (revenue: unknown) => pipeline.process(raw({ ...base, type: 'purchase', revenue, currency: 'EUR' }), ctx());
    const micros = (r: unknown) => {
      const o = buy(r);
      return o.kind === 'ok' ? o.value.event.revenue_micros : o;
    };
    expect(micros(19.99)).toBe(19_990_000);
    expect(micros(0.1)).toBe(100_000);
    expect(micros(1e-6)).toBe(1);
    expect(micros(12345678.123456)).toBe(12_345_678_123_456);
    expect(micros(-5.5)).toBe(-5_500_000);
    expect(micros(0.0000001)).toMatchObject({ code: 'SCHEMA_VIOLATION', field: 'revenue', message: expect.stringMatching(/more than 6 decimal places/) });
    expect(micros(1e21)).toMatchObject({ field: 'revenue', message: expect.stringMatching(/too large/) });
    expect(micros('100')).toMatchObject({ code: 'SCHEMA_VIOLATION', field: 'revenue', message: 'revenue: expected number, got a string' });
  });

  it('rejects bad events naming the field', async () => {
    const { pipeline } = await testPipeline();
    const check = (value: unknown, code: string, field: string, message: RegExp) => expect(pipeline.process(raw(value), ctx())).toMatchObject({ kind: 'dead-letter', code, field, message: expect.stringMatching(message) });
    check({ ...base, url: undefined }, 'SCHEMA_VIOLATION', 'url', /url: required field is missing/);
    check({ url: base.url }, 'SCHEMA_VIOLATION', 'type', /type: /);
    check({ ...base, screen_width: '100' }, 'SCHEMA_VIOLATION', 'screen_width', /expected number, got a string/);
    check({ ...base, colour: 'red', size: 1 }, 'SCHEMA_VIOLATION', 'colour', /colour: unknown field.*size: unknown field/);
    check({ ...base, title: 'a\u0000b' }, 'SCHEMA_VIOLATION', 'title', /NUL character/);
    check({ ...base, props: { k: 'x\ud800y' } }, 'SCHEMA_VIOLATION', 'props.k', /unpaired/);
    check({ ...base, props: { k: null } }, 'SCHEMA_VIOLATION', 'props.k', /expected a string, number or boolean/);
    check({ ...base, props: { k: { nested: 1 } } }, 'SCHEMA_VIOLATION', 'props.k', /expected a string, number or boolean/);
    check({ ...base, url: 'ftp://alpha.example/' }, 'SCHEMA_VIOLATION', 'url', /absolute http\(s\) URL/);
    check({ ...base, url: 'https://alpha.example/' + 'x'.repeat(3000) }, 'SIZE_VIOLATION', 'url', /longer than 2048/);
    check({ ...base, type: 'custom' }, 'SCHEMA_VIOLATION', 'name', /required for custom events/);
    check({ ...base, type: 'purchase' }, 'SCHEMA_VIOLATION', 'revenue', /required for purchase/);
    check({ ...base, revenue: 5, currency: 'EUR' }, 'SCHEMA_VIOLATION', 'revenue', /only allowed on purchase/);
    check({ ...base, ts: '2025-06-15 12:00' }, 'SCHEMA_VIOLATION', 'ts', /ISO-8601/);
    check({ ...base, ts: 1.5 }, 'SCHEMA_VIOLATION', 'ts', /whole, non-negative epoch milliseconds/);
    check({ ...base, id: 'not-a-uuid' }, 'SCHEMA_VIOLATION', 'id', /UUID/);
    check([base], 'SCHEMA_VIOLATION', '(root)', /must be a JSON object, got an array/);
    expect(pipeline.process(Buffer.from('{"type":'), ctx())).toMatchObject({ code: 'PAYLOAD_FORMAT', message: expect.stringMatching(/not valid JSON/) });
    expect(pipeline.process(Buffer.from([0x7b, 0xff, 0x7d]), ctx())).toMatchObject({ code: 'PAYLOAD_FORMAT', message: 'event is not valid UTF-8' });
  });

  it('authorises by site and, when given, write key', async () => {
    const { pipeline } = await testPipeline();
    expect(pipeline.process(raw(base), ctx({ siteId: 'nope' }))).toMatchObject({ code: 'UNAUTHORIZED', message: 'unknown site "nope"' });
    expect(pipeline.process(raw(base), ctx({ writeKey: 'wk_beta_secret' }))).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/wrong write key/) });
    expect(pipeline.process(raw(base), ctx({ writeKey: undefined })).kind).toBe('ok');
  });

  it('applies the clock-skew policy: adjust and flag, or dead-letter', async () => {
    const adjust = (await testPipeline()).pipeline;
    const strict = (await testPipeline({ policy: 'dead-letter' })).pipeline;
    const at = (ts: unknown, p = adjust) => p.process(raw({ ...base, ts }), ctx());
    expect(at(NOW + 9 * 60_000)).toMatchObject({ kind: 'ok', value: { event: { event_time: NOW + 9 * 60_000, time_adjusted: false } } });
    expect(at(NOW + 11 * 60_000)).toMatchObject({ kind: 'ok', value: { event: { event_time: NOW, time_adjusted: true } } });
    expect(at(NOW - 8 * 86_400_000)).toMatchObject({ kind: 'ok', value: { event: { event_time: NOW, time_adjusted: true } } });
    expect(at('2025-06-15T11:00:00.5+00:00')).toMatchObject({ kind: 'ok', value: { event: { event_time: NOW - 3_599_500, time_adjusted: false } } });
    expect(at(NOW + 86_400_000, strict)).toMatchObject({ kind: 'dead-letter', stage: 'validate', code: 'CLOCK_SKEW', field: 'ts', message: expect.stringMatching(/1\.0 days in the future \(at most 10m allowed\)/) });
    expect(at(0, strict)).toMatchObject({ code: 'CLOCK_SKEW', message: expect.stringMatching(/in the past/) });
  });
});
