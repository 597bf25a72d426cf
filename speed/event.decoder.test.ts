import { describe, expect, it } from 'vitest';
import { EVENT_SCHEMA, EVENT_SCHEMA_V1, EventCodec } from '../schemas/index.ts';
import { ProjectedDecoder, ROLLUP_FIELDS } from './event.decoder.ts';
import { traffic } from './testing/speed.fixture.ts';
import { MemoryRegistryClient } from '../schemas/index.ts';

const pick = (e: object) => Object.fromEntries(ROLLUP_FIELDS.map((f) => [f, (e as Record<string, unknown>)[f]]));

describe('ProjectedDecoder', () => {
  const events = traffic({ events: 300 });

  it('returns exactly the rollup fields of each event, from the current and an older writer schema', async () => {
    const registry = new MemoryRegistryClient();
    const v2 = new EventCodec(registry, 't');
    const v1 = new EventCodec(registry, 't', EVENT_SCHEMA_V1);
    await v2.init();
    await v1.init();
    const dec = new ProjectedDecoder(registry);
    const full = new EventCodec(registry, 't');
    for (const e of events) {
      const buf = v2.encode(e);
      const got = dec.decodeCached(buf) ?? (await dec.decode(buf));
      expect(Object.keys(got).sort()).toEqual([...ROLLUP_FIELDS].sort());
      expect(got).toEqual(pick(e));
      const old = v1.encode(e);
      const fromOld = dec.decodeCached(old) ?? (await dec.decode(old));
      expect(fromOld).toEqual(pick((await full.decode(old)).event));
    }
  });

  it('fails like the codec: unknown id, bytes that do not decode, a drifted writer schema', async () => {
    const registry = new MemoryRegistryClient();
    const codec = new EventCodec(registry, 't');
    await codec.init();
    const dec = new ProjectedDecoder(registry);
    const buf = codec.encode(events[0]!);
    await expect(dec.decode(Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), buf.subarray(5)]))).rejects.toMatchObject({ code: 'UNKNOWN_SCHEMA_ID' });
    await expect(dec.decode(buf.subarray(0, 20))).rejects.toMatchObject({ code: 'PAYLOAD_FORMAT' });
    await expect(dec.decode(Buffer.from('not avro'))).rejects.toMatchObject({ code: 'PAYLOAD_FORMAT' });
    const drifted = structuredClone(EVENT_SCHEMA);
    drifted.fields = drifted.fields.map((f) => (f.name === 'revenue_micros' ? { ...f, type: ['null', 'string'] } : f));
    const id = await registry.register(drifted);
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, id]), buf.subarray(5)]);
    await expect(dec.decode(framed)).rejects.toMatchObject({ code: 'SCHEMA_VIOLATION', paths: ['revenue_micros'] });
    expect(() => dec.decodeCached(framed)).toThrow(/revenue_micros/);
  });
});
