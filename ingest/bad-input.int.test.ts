/**
 * Every bad input of issue 3 gets a clear answer and loses nothing: each is either accepted,
 * or answered with a 4xx naming the problem AND found in the dead-letter topic with its bytes.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromMessage, type DeadLetter } from '../dlq/index.ts';
import { ConfluentRegistryClient, EventCodec } from '../schemas/index.ts';
import { runCleanups, testConfig } from '../testing/helpers.ts';
import { readTopics, startTestCollector, type TestCollector } from './testing/collector.fixture.ts';

const config = testConfig();
const ev = (extra: Record<string, unknown> = {}) => ({ type: 'pageview', url: 'https://alpha.example/p', visitor: 'v1', session: 's1', ...extra });

/** Raw HTTP, so a body can be anything (invalid UTF-8, 10 MB) and an early answer is still read. */
function post(base: string, body: Buffer | string, headers: Record<string, string> = { 'content-type': 'application/json' }, query = 'site=alpha&key=wk_alpha_secret'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/collect?${query}`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close the socket while a huge body is still being written; the answer came first.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    req.end(body);
  });
}

describe('bad input: a clear answer, nothing lost', () => {
  let tc: TestCollector;
  let strict: TestCollector;
  /** Dead letters the tests expect, by a unique marker in their message or payload. */
  let expectedLetters = 0;
  let expectedEvents = 0;

  beforeAll(async () => {
    tc = await startTestCollector(config);
    strict = await startTestCollector(config, { tweak: (o) => (o.clockSkew.policy = 'dead-letter') });
  });
  afterAll(runCleanups);

  it('not JSON → 400 PAYLOAD_FORMAT, the whole body dead-lettered', async () => {
    const r = await post(tc.url, '{"type":"pageview", nope');
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'PAYLOAD_FORMAT', message: expect.stringMatching(/not valid JSON/) });
    expectedLetters++;
  });

  it('truncated gzip → 400 PAYLOAD_FORMAT, the compressed bytes dead-lettered as sent', async () => {
    const gz = gzipSync(JSON.stringify([ev()]));
    const r = await post(tc.url, gz.subarray(0, gz.length - 10), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(r.status).toBe(400);
    expect(r.json.error.message).toMatch(/gzip body cannot be decompressed/);
    expectedLetters++;
  });

  it('an array of 100,000 events → 413 naming the limit', async () => {
    const r = await post(tc.url, JSON.stringify(Array.from({ length: 100_000 }, () => ({}))));
    expect(r.status).toBe(413);
    expect(r.json.error).toEqual({ code: 'TOO_MANY_EVENTS', message: '100000 events in one request; at most 1000 are accepted' });
    expectedLetters++;
  });

  it('a 10 MB body → 413 without reading it all; a gzip bomb → 413 once decompressed', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    big.write('[{"type":"pageview"}', 0);
    const r = await post(tc.url, big);
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ code: 'BODY_TOO_LARGE', message: expect.stringMatching(/body of 10485760 bytes exceeds the limit of 1048576 bytes/) });
    expect(r.headers.connection).toBe('close');
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(100_000);
    const b = await post(tc.url, bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(b.status).toBe(413);
    expect(b.json.error.message).toMatch(/once decompressed/);
    expectedLetters += 2;
  });

  it('missing fields, wrong types, unknown fields, NUL characters: each rejected by index while the valid ones are accepted', async () => {
    const batch = [
      ev({ title: 'valid-0' }),
      { type: 'pageview', visitor: 'v1' },
      ev({ screen_width: '1440' }),
      { ...ev(), type: 'purchase', revenue: '100', currency: 'EUR' },
      ev({ colour: 'blue' }),
      ev({ title: 'nul \u0000 here' }),
      ev({ props: { note: 'lone \ud83d surrogate' } }),
      ev({ title: 'valid-7', props: { price: 100, ok: true } }),
    ];
    const r = await post(tc.url, JSON.stringify(batch));
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(2);
    expect(r.json.rejected).toEqual([
      { index: 1, code: 'SCHEMA_VIOLATION', field: 'url', message: 'url: required field is missing' },
      { index: 2, code: 'SCHEMA_VIOLATION', field: 'screen_width', message: 'screen_width: expected number, got a string' },
      { index: 3, code: 'SCHEMA_VIOLATION', field: 'revenue', message: 'revenue: expected number, got a string' },
      { index: 4, code: 'SCHEMA_VIOLATION', field: 'colour', message: 'colour: unknown field (custom data goes in props)' },
      { index: 5, code: 'SCHEMA_VIOLATION', field: 'title', message: 'title: contains a NUL character' },
      { index: 6, code: 'SCHEMA_VIOLATION', field: 'props.note', message: 'props.note: contains an unpaired UTF-16 surrogate (not valid Unicode)' },
    ]);
    expectedEvents += 2;
    expectedLetters += 6;
  });

  it('a raw NUL byte or invalid UTF-8 in the body → 400 PAYLOAD_FORMAT', async () => {
    const nul = await post(tc.url, Buffer.from('[{"type":"pageview","url":"https://alpha.example/","title":"a\u0000b"}]'));
    expect(nul.status).toBe(400);
    expect(nul.json.error.message).toMatch(/not valid JSON/);
    const latin1 = Buffer.concat([Buffer.from('[{"type":"pageview","url":"https://alpha.example/","title":"caf'), Buffer.from([0xe9]), Buffer.from('"}]')]);
    const bad = await post(tc.url, latin1);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toEqual({ code: 'PAYLOAD_FORMAT', message: 'body is not valid UTF-8' });
    expectedLetters += 2;
  });

  it('unknown site or wrong write key → 401; a foreign origin → 403; another media type → 415; no events or a repeated key → 400', async () => {
    const unknown = await post(tc.url, JSON.stringify([ev()]), undefined, 'site=nope&key=wk_alpha_secret');
    expect(unknown).toMatchObject({ status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'unknown site "nope"' } } });
    const wrong = await post(tc.url, JSON.stringify([ev()]), undefined, 'site=alpha&key=wk_beta_secret');
    expect(wrong).toMatchObject({ status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'wrong write key for site "alpha"' } } });
    const origin = await post(tc.url, JSON.stringify([ev()]), { 'content-type': 'text/plain', origin: 'https://evil.example' });
    expect(origin).toMatchObject({ status: 403, json: { error: { code: 'ORIGIN_NOT_ALLOWED' } } });
    const xml = await post(tc.url, '<event/>', { 'content-type': 'application/xml' });
    expect(xml).toMatchObject({ status: 415, json: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
    const empty = await post(tc.url, '[]');
    expect(empty).toMatchObject({ status: 400, json: { error: { code: 'NO_EVENTS' } } });
    const scalar = await post(tc.url, '42');
    expect(scalar).toMatchObject({ status: 400, json: { error: { code: 'PAYLOAD_FORMAT', message: 'body must be an event object or an array of events' } } });
    const allBad = await post(tc.url, JSON.stringify([{ type: 'nope' }]));
    expect(allBad).toMatchObject({ status: 400, json: { accepted: 0, error: { code: 'ALL_REJECTED' } } });
    // A repeated key (or site): which one would count is anyone's guess, so neither does.
    const twice = await post(tc.url, JSON.stringify([ev()]), undefined, 'site=alpha&key=wk_alpha_secret&key=wk_beta_secret');
    expect(twice).toMatchObject({ status: 400, json: { error: { code: 'REPEATED_PARAMETER', message: 'parameter "key" is given 2 times; give it once' } } });
    expectedLetters += 8;
  });

  it('timestamps far in the future or past: adjusted and flagged, or dead-lettered, by policy', async () => {
    const now = Date.now();
    const skewed = [ev({ ts: now + 2 * 86_400_000, title: 'future' }), ev({ ts: now - 30 * 86_400_000, title: 'past' }), ev({ ts: now - 60_000, title: 'fine' })];
    const adjusted = await post(tc.url, JSON.stringify(skewed));
    expect(adjusted.json).toEqual({ accepted: 3, rejected: [] });
    expectedEvents += 3;
    const refused = await post(strict.url, JSON.stringify(skewed));
    expect(refused.status).toBe(202);
    expect(refused.json.rejected).toEqual([
      { index: 0, code: 'CLOCK_SKEW', field: 'ts', message: expect.stringMatching(/2\.0 days in the future \(at most 10m allowed\)/) },
      { index: 1, code: 'CLOCK_SKEW', field: 'ts', message: expect.stringMatching(/30\.0 days in the past \(at most 7d allowed\)/) },
    ]);
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), strict.eventsTopic);
    const read = await readTopics(config, { [strict.eventsTopic]: 1, [strict.dlqTopic]: 2 });
    const [kept] = read[strict.eventsTopic]!;
    expect((await reader.decode(kept!.value)).event).toMatchObject({ title: 'fine', time_adjusted: false });
    const strictLetters = read[strict.dlqTopic]!.map((m) => fromMessage(m.value, m.headers));
    expect(strictLetters.map((l) => [l.code, l.stage, JSON.parse(l.payload.toString()).title]).sort()).toEqual([
      ['CLOCK_SKEW', 'validate', 'future'],
      ['CLOCK_SKEW', 'validate', 'past'],
    ]);
  });

  it('every rejected input is in the dead-letter topic with its bytes; only valid events are in the events topic', async () => {
    const read = await readTopics(config, { [tc.dlqTopic]: expectedLetters, [tc.eventsTopic]: expectedEvents });
    const letters: DeadLetter[] = read[tc.dlqTopic]!.map((m) => fromMessage(m.value, m.headers));
    expect(letters).toHaveLength(expectedLetters);
    const find = (re: RegExp) => letters.filter((l) => re.test(l.message));
    expect(find(/not valid JSON/)[0]).toMatchObject({ stage: 'collect', code: 'PAYLOAD_FORMAT', payloadFormat: 'json', siteId: 'alpha' });
    expect(find(/not valid JSON/).map((l) => l.payload.toString()).sort()[0]).toBe('[{"type":"pageview","url":"https://alpha.example/","title":"a\u0000b"}]');
    const gz = find(/gzip body cannot/)[0]!;
    expect(gz).toMatchObject({ code: 'PAYLOAD_FORMAT', payloadFormat: 'binary' });
    expect(gz.payload.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // the gzip bytes as sent
    expect(find(/100000 events/)[0]).toMatchObject({ code: 'SIZE_VIOLATION' });
    const big = find(/10485760 bytes/)[0]!;
    expect(big).toMatchObject({ code: 'SIZE_VIOLATION', message: expect.stringMatching(/first 65536 of 10485760 bytes kept/) });
    expect(big.payload.subarray(0, 20).toString()).toBe('[{"type":"pageview"}');
    expect(find(/UTF-8/)[0]!.payload.includes(0xe9)).toBe(true);
    expect(find(/unknown site/)[0]).toMatchObject({ code: 'UNAUTHORIZED', stage: 'collect' });
    expect(find(/unknown site/)[0]!.siteId).toBeUndefined();
    expect(find(/wrong write key/)[0]).toMatchObject({ code: 'UNAUTHORIZED', siteId: 'alpha' });
    expect(find(/origin https:\/\/evil\.example/)[0]).toMatchObject({ code: 'UNAUTHORIZED' });
    // Per-event rejections keep exactly that element's JSON text.
    expect(find(/colour: unknown field/)[0]!.payload.toString()).toBe(JSON.stringify(ev({ colour: 'blue' })));
    expect(find(/screen_width/)[0]).toMatchObject({ stage: 'validate', code: 'SCHEMA_VIOLATION', field: 'screen_width' });
    const events = read[tc.eventsTopic]!;
    expect(events).toHaveLength(expectedEvents);
    const reader = new EventCodec(new ConfluentRegistryClient(config.SCHEMA_REGISTRY_URL), tc.eventsTopic);
    const decoded = await Promise.all(events.map(async (m) => (await reader.decode(m.value)).event));
    expect(decoded.map((e) => [e.title, e.time_adjusted]).sort()).toEqual([
      ['fine', false],
      ['future', true],
      ['past', true],
      ['valid-0', false],
      ['valid-7', false],
    ]);
    expect(decoded.find((e) => e.title === 'valid-7')!.properties).toEqual({ price: '100', ok: 'true' });
  });
});
