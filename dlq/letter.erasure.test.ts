import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { avroString, letterMatches } from './letter.erasure.ts';

const json = (v: unknown, siteId?: string) => ({ payload: Buffer.from(JSON.stringify(v)), payloadFormat: 'json' as const, ...(siteId ? { siteId } : {}) });

describe('which dead letters hold an erased visitor', () => {
  it('matches collector bodies and our event shape by site and visitor, exactly', () => {
    expect(letterMatches(json([{ visitor: 'v1', type: 'bad' }], 'shop'), { site: 'shop', visitor: 'v1' })).toBe(true);
    expect(letterMatches(json([{ visitor: 'v10' }], 'shop'), { site: 'shop', visitor: 'v1' })).toBe(false);
    expect(letterMatches(json([{ visitor: 'v1' }], 'blog'), { site: 'shop', visitor: 'v1' })).toBe(false);
    expect(letterMatches(json({ events: [{ site_id: 'shop', visitor_id: 'v1' }] }), { site: 'shop', visitor: 'v1' })).toBe(true);
    expect(letterMatches(json({ site_id: 'blog', visitor_id: 'v1' }, 'shop'), { site: 'shop', visitor: 'v1' })).toBe(false);
  });

  it('matches a whole site', () => {
    expect(letterMatches(json([{ visitor: 'a' }], 'shop'), { site: 'shop' })).toBe(true);
    expect(letterMatches(json({ site_id: 'shop', visitor_id: 'a' }), { site: 'shop' })).toBe(true);
    expect(letterMatches(json([{ visitor: 'a' }], 'blog'), { site: 'shop' })).toBe(false);
  });

  it('finds the visitor in bytes that do not parse: as an Avro string or a JSON string', () => {
    const type = avro.Type.forSchema({ type: 'record', name: 'E', fields: [{ name: 'site_id', type: 'string' }, { name: 'visitor_id', type: 'string' }] });
    const bytes = type.toBuffer({ site_id: 'shop', visitor_id: 'visitor-123' });
    expect(bytes.includes(avroString('visitor-123'))).toBe(true);
    const framed = { payload: Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), bytes]), payloadFormat: 'avro-confluent' as const, siteId: 'shop' };
    expect(letterMatches(framed, { site: 'shop', visitor: 'visitor-123' })).toBe(true);
    expect(letterMatches(framed, { site: 'shop', visitor: 'visitor-12' })).toBe(false);
    expect(letterMatches({ ...framed, siteId: 'blog' }, { site: 'shop', visitor: 'visitor-123' })).toBe(false);
    const broken = { payload: Buffer.from('[{"visitor":"v1", "ts": 1'), payloadFormat: 'json' as const, siteId: 'shop' };
    expect(letterMatches(broken, { site: 'shop', visitor: 'v1' })).toBe(true);
    expect(letterMatches(broken, { site: 'shop', visitor: 'v' })).toBe(false);
  });
});
