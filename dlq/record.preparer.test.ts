import { randomUUID } from 'node:crypto';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { generateTraffic } from '../traffic/index.ts';
import { EVENT_SCHEMA, SchemaViolationError, type TwinlaneEvent } from '../schemas/index.ts';
import { EventCodec } from '../schemas/index.ts';
import { frame } from '../schemas/index.ts';
import { RecordPreparer, TransformError, replayEventId, type ReplayPipeline } from './record.preparer.ts';
import { deadLetter, ok, type StoredDeadLetter } from './types.ts';
import { MemoryRegistryClient } from '../schemas/index.ts';

/** The codec of the current test (set by setup()), which the stand-in's records are encoded with. */
let recordCodec: EventCodec;

/** Stands in for ingest's EventPipeline: requires a numeric `revenue`, echoes the id; records of a site "nowhere" are refused, others encoded. */
const pipeline: ReplayPipeline = {
  processRecord(record) {
    if (record.site_id === 'nowhere') return deadLetter('validate', 'UNAUTHORIZED', 'site_id: unknown site "nowhere"', 'site_id');
    try {
      const event = record as unknown as TwinlaneEvent;
      return ok({ event, key: `${event.site_id}:${event.visitor_id}`, bytes: recordCodec.encode(event) });
    } catch (err) {
      if (err instanceof SchemaViolationError) return deadLetter('validate', 'SCHEMA_VIOLATION', `does not match the event schema at ${err.paths.join(', ')}`, err.paths[0]);
      throw err;
    }
  },
  processValue(value, ctx) {
    const v = value as Record<string, unknown>;
    if (typeof v.revenue !== 'number') return deadLetter('validate', 'SCHEMA_VIOLATION', 'revenue: expected number', 'revenue');
    const event = { event_id: String(v.id), site_id: ctx.siteId ?? '', visitor_id: 'v' } as TwinlaneEvent;
    return ok({ event, key: `${event.site_id}:v`, bytes: Buffer.from(JSON.stringify(v)) });
  },
};

const [sample] = [...generateTraffic({ seed: 7, sites: ['shop'], from: Date.UTC(2025, 0, 1), to: Date.UTC(2025, 0, 2), events: 1 })];

async function setup() {
  const registry = new MemoryRegistryClient();
  const codec = new EventCodec(registry, 'events');
  await codec.init();
  recordCodec = codec;
  const drift = structuredClone(EVENT_SCHEMA);
  drift.fields = drift.fields.map((f) => (f.name === 'revenue_micros' ? { ...f, type: ['null', 'string'] } : f));
  const driftId = await registry.register(drift);
  const preparer = new RecordPreparer({ pipeline, codec, registry, readerSchema: EVENT_SCHEMA });
  return { codec, preparer, drift, driftId };
}

function letter(over: Partial<StoredDeadLetter>): StoredDeadLetter {
  return { id: randomUUID(), stage: 'decode', code: 'PAYLOAD_FORMAT', message: '', firstSeen: 1, attempts: 1, payload: Buffer.alloc(0), payloadFormat: 'binary', status: 'pending', seenBy: [], dlqPartition: 0, dlqOffset: '0', archivedAt: 1, ...over };
}

describe('RecordPreparer', () => {
  it('re-encodes a decodable Avro record as it is', async () => {
    const { codec, preparer } = await setup();
    const prep = await preparer.prepare(letter({ payloadFormat: 'avro-confluent', payload: codec.encode(sample!) }));
    expect(prep).toMatchObject({ kind: 'pass', events: [{ eventId: sample!.event_id, key: `shop:${sample!.visitor_id}` }] });
  });

  it('names the drifted field, and passes once a transform repairs the writer view', async () => {
    const { preparer, drift, driftId } = await setup();
    const bytes = frame(driftId, avro.Type.forSchema(drift as avro.Schema).toBuffer({ ...sample!, revenue_micros: '100' }));
    const l = letter({ payloadFormat: 'avro-confluent', payload: bytes });
    expect(await preparer.prepare(l)).toMatchObject({ kind: 'fail', code: 'SCHEMA_VIOLATION', field: 'revenue_micros' });
    const prep = await preparer.prepare(l, ({ event }) => ({ ...event, revenue_micros: Number(event!.revenue_micros) }));
    expect(prep).toMatchObject({ kind: 'pass', events: [{ eventId: sample!.event_id }] });
  });

  it('fails unknown schema ids and undecodable bytes unless a transform returns an event', async () => {
    const { preparer } = await setup();
    expect(await preparer.prepare(letter({ payloadFormat: 'avro-confluent', payload: frame(999, Buffer.from([1, 2])) }))).toMatchObject({ kind: 'fail', code: 'UNKNOWN_SCHEMA_ID' });
    const garbage = letter({ payload: Buffer.from('not avro at all') });
    expect(await preparer.prepare(garbage)).toMatchObject({ kind: 'fail', code: 'PAYLOAD_FORMAT' });
    expect(await preparer.prepare(garbage, () => ({ ...sample! }))).toMatchObject({ kind: 'pass' });
    expect(await preparer.prepare(garbage, () => ({ ...sample!, revenue_micros: 'x' }))).toMatchObject({ kind: 'fail', code: 'SCHEMA_VIOLATION', field: 'revenue_micros' });
    expect(await preparer.prepare(garbage, () => null)).toMatchObject({ kind: 'skip' });
  });

  it('sends JSON through the pipeline with a stable event id, repaired by a transform', async () => {
    const { preparer } = await setup();
    const l = letter({ stage: 'validate', code: 'SCHEMA_VIOLATION', payloadFormat: 'json', siteId: 'shop', payload: Buffer.from('{"type":"purchase","revenue":"100"}') });
    expect(await preparer.prepare(l)).toMatchObject({ kind: 'fail', code: 'SCHEMA_VIOLATION', field: 'revenue' });
    const fix = ({ json }: { json?: unknown }) => ({ ...(json as object), revenue: Number((json as { revenue: string }).revenue) });
    const a = await preparer.prepare(l, fix);
    const b = await preparer.prepare(l, fix);
    expect(a).toMatchObject({ kind: 'pass', events: [{ eventId: replayEventId(l.id, 0), siteId: 'shop' }] });
    expect(b).toEqual(a);
    expect(await preparer.prepare(letter({ payloadFormat: 'json', payload: Buffer.from('{oops') }))).toMatchObject({ kind: 'fail', code: 'PAYLOAD_FORMAT' });
  });

  it('replays a JSON body whole: one failing event fails the record', async () => {
    const { preparer } = await setup();
    const l = letter({ payloadFormat: 'json', siteId: 'shop', payload: Buffer.from('[{"revenue":1},{"revenue":"2"}]') });
    expect(await preparer.prepare(l)).toMatchObject({ kind: 'fail', message: expect.stringContaining('event 1') });
    expect(await preparer.prepare(l, ({ json }) => (json as { revenue: unknown }[]).map((e) => ({ revenue: Number(e.revenue) })))).toMatchObject({ kind: 'pass', events: [{}, {}] });
  });

  it('turns a throwing transform into a typed error naming the letter', async () => {
    const { preparer } = await setup();
    const l = letter({ payloadFormat: 'json', payload: Buffer.from('{}') });
    await expect(preparer.prepare(l, () => { throw new Error('boom'); })).rejects.toThrow(TransformError);
    await expect(preparer.prepare(l, () => { throw new Error('boom'); })).rejects.toThrow(new RegExp(`${l.id}: boom`));
  });
});
