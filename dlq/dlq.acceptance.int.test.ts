/**
 * Issue 7 acceptance: good events and every kind of bad one go through the real collector,
 * Kafka, speed consumer, lake archiver and DLQ archiver (child processes of their entry
 * points, isolated topics/groups/prefix/data dir). Every bad one lands in the store with the
 * right stage and code, no good one is missing downstream; `dlq replay` with a transform
 * repairs the schema-drift events, which then appear in the speed layer and, after the next
 * batch run, in the batch views, exactly once (a second replay sends nothing).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineHarness, expectBucketsEqualTruth, truthSeries } from '../testing/pipeline.harness.ts';
import type { Metric } from '../core/views.ts';
import { EVENT_SCHEMA, type TwinlaneEvent } from '../schemas/index.ts';
import { ConfluentRegistryClient, EventCodec, SchemaViolationError } from '../schemas/index.ts';
import { frame } from '../schemas/index.ts';
import { kafkaClient, runCleanups, uniqueName, waitUntil } from '../testing/helpers.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
import type { Transform } from './record.preparer.ts';
import { runReplay } from '../apps/index.ts';
import type { StoredDeadLetter } from './types.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const COUNTS: Metric[] = ['pageviews', 'events', 'purchases', 'revenue'];
const SPEED_COUNTS = COUNTS;

/** What an operator would write in ./fix-revenue.ts: `"revenue": "100"` → 100, string revenue_micros → number. */
const fixRevenue: Transform = ({ json, event }) => {
  if (event) return { ...event, revenue_micros: Number(event.revenue_micros) };
  const j = json as Record<string, unknown> | undefined;
  return j && typeof j.revenue === 'string' ? { ...j, revenue: Number(j.revenue) } : undefined;
};

describe('dead letters end to end: nothing lost, drift repaired by replay exactly once', () => {
  let h: PipelineHarness;
  let store: DeadLetterStore;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const yesterday = today - DAY;
  const driftHour = yesterday + 12 * HOUR;
  const driftIds = [randomUUID(), randomUUID(), randomUUID()];
  /** The three drift purchases as the pipeline holds them once repaired: 100 currency units each. */
  const repairedDrift = (): TwinlaneEvent[] =>
    driftIds.map((id, i) => ({ event_id: id, site_id: 'shop', type: 'purchase', name: 'purchase', event_time: driftHour + i * 1_000, visitor_id: `drift-${i}`, session_id: `drift-s-${i}`, is_bot: false, revenue_micros: 100_000_000, currency: 'EUR' }) as TwinlaneEvent);
  const shopHours = (events: TwinlaneEvent[]) => truthSeries(events, { site: 'shop', grain: 'hour', from: yesterday, to: today });

  beforeAll(async () => {
    h = await PipelineHarness.create();
    await h.startAll();
    store = new DeadLetterStore(join(h.dir, 'dlq'));
  }, 180_000);

  afterAll(async () => {
    store?.close();
    await h?.stop();
    await runCleanups();
  }, 60_000);

  async function post(body: string, site = 'shop'): Promise<{ status: number; body: unknown }> {
    const key = h.sites().find((s) => s.id === site)!.writeKey;
    const res = await fetch(`http://127.0.0.1:${h.env.COLLECTOR_PORT}/v1/collect?site=${site}&key=${key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, body: await res.json() };
  }

  async function produceRaw(values: Buffer[]): Promise<{ partition: number; offset: string }[]> {
    const producer = kafkaClient(h.config).producer();
    await producer.connect();
    try {
      const out: { partition: number; offset: string }[] = [];
      for (const value of values) {
        const [meta] = await producer.send({ topic: h.config.EVENTS_TOPIC, acks: -1, messages: [{ key: 'raw', value }] });
        out.push({ partition: meta!.partition, offset: meta!.baseOffset! });
      }
      return out;
    } finally {
      await producer.disconnect();
    }
  }

  const byKind = (letters: StoredDeadLetter[], stage: string, code: string) => letters.filter((l) => l.stage === stage && l.code === code);

  it('stores every bad input with its stage and code, and replay repairs the drift once', async () => {
    // Good traffic over yesterday, with a ground-truth file.
    const good = await h.send({ seed: 71, events: 1_500, from: yesterday, to: today - HOUR });
    expect(good.failed).toBe(0);

    // Schema drift at a producer: `revenue` became a string. Rejected per event, field named.
    const drift = driftIds.map((id, i) => ({ id, type: 'purchase', url: 'https://shop.example/checkout', ts: driftHour + i * 1_000, revenue: '100', currency: 'EUR', visitor: `drift-${i}`, session: `drift-s-${i}` }));
    const driftReply = await post(JSON.stringify(drift));
    expect(driftReply.status).toBe(400);
    // Invalid JSON at the collector: the body as a whole.
    const badJson = await post('[{"type": "pageview", "url": ');
    expect(badJson.status).toBe(400);
    // Straight to the events topic: bytes without Confluent framing, and an id the registry lacks.
    const [garbage, unknownId] = await produceRaw([Buffer.from('{"not":"avro"}'), frame(2_000_000_000, Buffer.from([2, 4, 6]))]);

    await h.waitCaughtUp();
    // Speed and the lake archiver each report the two raw records, one letter each (same source record and stage): 3 + 1 + 1 + 1 letters.
    await waitUntil('6 dead letters in the store', async () => (await store.count()) >= 6, 60_000, 250).catch(async (err: unknown) => {
      const got = (await store.list()).map((l) => `${l.stage}/${l.code}`).join(', ');
      throw new Error(`${(err as Error).message}; store has: ${got}\ndlq-archiver log: ${h.log('dlq-archiver').slice(-1500)}\nspeed log: ${h.log('speed').slice(-800)}\nlake log: ${h.log('lake-archiver').slice(-800)}`);
    });
    const letters = await store.list();
    expect(letters).toHaveLength(6);
    const driftLetters = byKind(letters, 'validate', 'SCHEMA_VIOLATION');
    expect(driftLetters).toHaveLength(3);
    expect(driftLetters.every((l) => l.field === 'revenue' && l.siteId === 'shop' && l.payloadFormat === 'json' && l.status === 'pending')).toBe(true);
    expect(driftLetters.map((l) => (JSON.parse(l.payload.toString()) as { id: string }).id).sort()).toEqual([...driftIds].sort());
    const collect = byKind(letters, 'collect', 'PAYLOAD_FORMAT');
    expect(collect).toHaveLength(1);
    expect(collect[0]!.payload.toString()).toBe('[{"type": "pageview", "url": ');
    const undecodable = byKind(letters, 'decode', 'PAYLOAD_FORMAT');
    expect(undecodable).toHaveLength(1);
    expect(undecodable.every((l) => l.source?.topic === h.config.EVENTS_TOPIC && l.source.offset === garbage!.offset && l.source.partition === garbage!.partition)).toBe(true);
    const unknown = byKind(letters, 'decode', 'UNKNOWN_SCHEMA_ID');
    expect(unknown).toHaveLength(1);
    expect(unknown.every((l) => l.source?.offset === unknownId!.offset && l.payload.equals(frame(2_000_000_000, Buffer.from([2, 4, 6]))))).toBe(true);

    // No good one is missing downstream: speed equals the ground truth (W is not set yet).
    const truth = shopHours(h.truth());
    const before = await h.series('shop', yesterday, today, 'hour', SPEED_COUNTS);
    expect(before.every((r) => r.source === 'speed')).toBe(true);
    expectBucketsEqualTruth(before, truth, 'shop', SPEED_COUNTS);

    // Replay the drift with the repairing transform.
    const dry = await runReplay(h.config, { filter: { code: ['SCHEMA_VIOLATION'] }, dryRun: true, transform: fixRevenue });
    expect(dry).toMatchObject({ dryRun: true, replayed: 3, failedAgain: 0 });
    const first = await runReplay(h.config, { filter: { code: ['SCHEMA_VIOLATION'] }, transform: fixRevenue });
    expect(first).toMatchObject({ replayed: 3, failedAgain: 0, events: 3 });
    // Everything again: the drift is skipped, the rest fails again (their causes are unchanged).
    const again = await runReplay(h.config, { filter: {}, transform: fixRevenue });
    expect(again).toMatchObject({ selected: 6, replayed: 0, skipped: 3, failedAgain: 3 });
    await h.waitCaughtUp();

    const withDrift = shopHours([...h.truth(), ...repairedDrift()]);
    expect(withDrift.get(driftHour)).toEqual({ ...truth.get(driftHour)!, purchases: truth.get(driftHour)!.purchases + 3, revenue: truth.get(driftHour)!.revenue + 300_000_000, visitors: expect.any(Number), sessions: expect.any(Number), bounce_rate: expect.any(Number), visit_duration: expect.any(Number) });
    await waitUntil('the 3 repaired purchases in the speed layer', async () => {
      const rows = await h.series('shop', driftHour, driftHour + HOUR, 'hour', SPEED_COUNTS);
      return rows[0]?.values.purchases === withDrift.get(driftHour)!.purchases;
    }, 30_000, 250);
    expectBucketsEqualTruth(await h.series('shop', yesterday, today, 'hour', SPEED_COUNTS), withDrift, 'shop', SPEED_COUNTS);

    const statuses = new Map((await store.list()).map((l) => [l.id, l]));
    for (const l of driftLetters) expect(statuses.get(l.id)).toMatchObject({ status: 'replayed', attempts: 2 });
    for (const l of [...undecodable, ...unknown, ...collect]) expect(statuses.get(l.id)).toMatchObject({ status: 'failed-again', attempts: 2 });

    // The next batch run: yesterday from the lake, exact, the repaired events once.
    await h.waitCaughtUp([h.config.LAKE_GROUP]);
    const run = await h.runBatch();
    expect(run.status).toBe('succeeded');
    const batchRows = await h.series('shop', yesterday, today, 'hour', COUNTS);
    expect(batchRows.every((r) => r.source === 'batch')).toBe(true);
    expectBucketsEqualTruth(batchRows, withDrift, 'shop', COUNTS);
  }, 300_000);

  it('names the field when a producer writes Avro with a drifted schema', async () => {
    const registry = new ConfluentRegistryClient(h.config.SCHEMA_REGISTRY_URL);
    const schema = structuredClone(EVENT_SCHEMA);
    schema.fields = schema.fields.map((f) => (f.name === 'revenue_micros' ? { ...f, type: ['null', 'string'] } : f));
    const id = await registry.register(schema, `${uniqueName('drift')}-value`);
    const codec = new EventCodec(registry, h.config.EVENTS_TOPIC);
    await codec.init();
    const sample = { ...(await codec.decode(codec.encode(exampleEvent(driftHour)))).event, revenue_micros: '7000000' };
    const bytes = frame(id, avro.Type.forSchema(schema as avro.Schema).toBuffer(sample));
    const typed = await codec.decode(bytes).then(() => false, (err: unknown) => err instanceof SchemaViolationError);
    // The codec types an unresolvable writer schema as SchemaViolationError, so consumers dead-letter it instead of stopping.
    expect(typed).toBe(true);
    const [pos] = await produceRaw([bytes]);
    await h.waitCaughtUp();
    await waitUntil('drift letters', async () => (await store.count({ stage: ['decode'], code: ['SCHEMA_VIOLATION'] })) >= 1, 30_000, 250);
    const letters = await store.list({ code: ['SCHEMA_VIOLATION'], stage: ['decode'] });
    expect(letters.every((l) => l.field === 'revenue_micros' && l.source?.offset === pos!.offset)).toBe(true);
    const r = await runReplay(h.config, { filter: { stage: ['decode'], code: ['SCHEMA_VIOLATION'] }, transform: fixRevenue });
    expect(r.replayed).toBe(1);
  }, 120_000);
});

function exampleEvent(t: number) {
  return {
    event_id: randomUUID(), site_id: 'shop', type: 'purchase' as const, name: 'purchase', event_time: t, received_time: t, visitor_id: 'avro-drift', session_id: 'avro-drift-s',
    url: 'https://shop.example/checkout', path: '/checkout', hostname: 'shop.example', referrer: null, referrer_host: null, title: null, utm_source: null, utm_medium: null,
    utm_campaign: null, utm_term: null, utm_content: null, country: null, device_type: 'desktop', browser: null, os: null, is_bot: false, ip_hash: null, time_adjusted: false,
    properties: {}, revenue_micros: 7_000_000, currency: 'EUR', screen_width: null,
  };
}
