import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { sampleEvents } from './codec.benchmark.ts';
import { EventCodec, SchemaViolationError, type RegistryClient } from './event.codec.ts';
import { EVENT_SCHEMA, type TwinlaneEvent } from './event.ts';
import { frame, WireFormatError } from './wire-format.ts';

const registry: RegistryClient = { register: async () => 42, schemaById: async () => EVENT_SCHEMA };
const type = avro.Type.forSchema(EVENT_SCHEMA as avro.Schema);

async function codec(): Promise<EventCodec> {
  const c = new EventCodec(registry, 'events');
  await c.init();
  return c;
}

describe('EventCodec', () => {
  it('writes exactly the Confluent frame of the Avro bytes, also past its scratch buffer', async () => {
    const c = await codec();
    for (const e of sampleEvents(500)) expect(c.encode(e).equals(frame(42, type.toBuffer(e)))).toBe(true);
    const big = { ...sampleEvents(1)[0]!, properties: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, 'v'.repeat(30)])) };
    const out = c.encode(big);
    expect(out.length).toBeGreaterThan(16 * 1024);
    expect(out.equals(frame(42, type.toBuffer(big)))).toBe(true);
    expect((await c.decode(out)).event).toEqual(big);
  });

  it('returned buffers do not share memory with the next encode', async () => {
    const c = await codec();
    const [a, b] = sampleEvents(2);
    const first = c.encode(a!);
    const copy = Buffer.from(first);
    c.encode(b!);
    expect(first.equals(copy)).toBe(true);
  });

  it('names the bad field paths of an invalid event', async () => {
    const c = await codec();
    const bad = { ...sampleEvents(1)[0]!, revenue_micros: '100', type: 'click' } as unknown as TwinlaneEvent;
    expect(() => c.encode(bad)).toThrow(SchemaViolationError);
    try {
      c.encode(bad);
    } catch (err) {
      expect((err as SchemaViolationError).paths.sort()).toEqual(['revenue_micros', 'type']);
    }
  });

  it('refuses frames without the magic byte or too short', async () => {
    const c = await codec();
    await expect(c.decode(Buffer.from([1, 0, 0, 0, 42, 0]))).rejects.toThrow(WireFormatError);
    await expect(c.decode(Buffer.from([0, 0]))).rejects.toThrow(WireFormatError);
  });
});
