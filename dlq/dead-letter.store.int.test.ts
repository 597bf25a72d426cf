import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
import { sourceLetterId } from './dead-letter.writer.ts';
import type { ArchivedDeadLetter } from './types.ts';

const DAY = 86_400_000;
const t0 = Date.UTC(2025, 0, 10, 12);

function letter(over: Partial<ArchivedDeadLetter> = {}): ArchivedDeadLetter {
  return {
    id: randomUUID(),
    stage: 'decode',
    code: 'PAYLOAD_FORMAT',
    message: 'bad bytes',
    firstSeen: t0,
    attempts: 1,
    payload: Buffer.from([0xde, 0xad, 0x00, 0xff]),
    payloadFormat: 'binary',
    dlqPartition: 0,
    dlqOffset: '0',
    archivedAt: t0 + 1000,
    ...over,
  };
}

describe('DeadLetterStore (real DuckDB, Parquet files)', () => {
  afterAll(runCleanups);

  it('answers an empty store without files', async () => {
    const store = new DeadLetterStore(tempDir('dlq-store'));
    await store.open();
    expect(await store.list()).toEqual([]);
    expect(await store.count({ stage: ['decode'] })).toBe(0);
    expect(await store.stats()).toEqual([]);
    store.close();
  });

  it('stores letters durably, filters them, collapses redelivered duplicates and tracks attempts', async () => {
    const dir = tempDir('dlq-store');
    const store = new DeadLetterStore(dir);
    await store.open();
    const a = letter({ siteId: 'shop', source: { topic: 'twinlane.events', partition: 2, offset: '41' } });
    const b = letter({ stage: 'validate', code: 'SCHEMA_VIOLATION', field: 'revenue', siteId: 'blog', payloadFormat: 'json', payload: Buffer.from('{"revenue":"100"}'), firstSeen: t0 - DAY });
    const c = letter({ stage: 'collect', code: 'PAYLOAD_FORMAT', siteId: 'shop', firstSeen: t0 + 3_600_000 });
    await store.append([a, b, c], 'p0-0-2');
    // A redelivery of the same letters under another batch boundary: still one letter each.
    await store.append([{ ...a, dlqOffset: '7' }, { ...c, dlqOffset: '8' }], 'p0-7-8');
    expect(readdirSync(`${dir}/letters`).sort()).toEqual(['dt=2025-01-09', 'dt=2025-01-10']);

    const all = await store.list();
    expect(all.map((l) => l.id).sort()).toEqual([a.id, b.id, c.id].sort());
    const gotA = (await store.get(a.id))!;
    expect(gotA.payload.equals(a.payload)).toBe(true);
    expect(gotA.source).toEqual(a.source);
    expect(gotA.status).toBe('pending');
    expect(gotA.dlqOffset).toBe('0');
    expect(await store.get(randomUUID())).toBeUndefined();

    expect((await store.list({ site: ['shop'] })).map((l) => l.id).sort()).toEqual([a.id, c.id].sort());
    expect((await store.list({ code: ['SCHEMA_VIOLATION'] }))[0]!.field).toBe('revenue');
    expect((await store.list({ from: t0, to: t0 + 1 })).map((l) => l.id)).toEqual([a.id]);
    expect(await store.count({ stage: ['collect', 'validate'] })).toBe(2);

    await store.recordAttempts([{ id: b.id, status: 'failed-again', attempts: 2, code: 'SCHEMA_VIOLATION', message: 'still', field: 'revenue', at: t0 }], 'run1');
    expect((await store.get(b.id))!.status).toBe('failed-again');
    expect((await store.get(b.id))!.attempts).toBe(2);
    await store.recordAttempts([{ id: b.id, status: 'replayed', attempts: 3, at: t0 + 1 }], 'run2');
    const replayed = (await store.get(b.id))!;
    expect([replayed.status, replayed.attempts]).toEqual(['replayed', 3]);
    expect(await store.count({ status: ['pending'] })).toBe(2);

    const stats = await store.stats({}, 'day');
    expect(stats.reduce((s, r) => s + r.count, 0)).toBe(3);
    expect(stats.find((r) => r.stage === 'validate')).toMatchObject({ bucket: t0 - DAY - 12 * 3_600_000, code: 'SCHEMA_VIOLATION', status: 'replayed', count: 1 });
    store.close();

    // Another process (here: another store object) sees the same state.
    const again = new DeadLetterStore(dir);
    expect((await again.get(b.id))!.status).toBe('replayed');
    expect(again.prune(t0)).toEqual(['2025-01-09']);
    expect(await again.count()).toBe(2);
    again.close();
  });

  it('keeps one letter per source record and stage, seen by every consumer that reported it (issue 13.4)', async () => {
    const dir = tempDir('dlq-store');
    const store = new DeadLetterStore(dir);
    const source = { topic: 'twinlane.events', partition: 1, offset: '99' };
    const id = sourceLetterId(source, 'decode');
    expect(sourceLetterId({ ...source }, 'decode')).toBe(id);
    expect(sourceLetterId(source, 'speed')).not.toBe(id);
    expect(sourceLetterId({ ...source, offset: '100' }, 'decode')).not.toBe(id);
    // Speed reports it first; the lake archiver's report lands in a later DLQ batch, as does a redelivery of speed's.
    await store.append([letter({ id, source, reporter: 'speed', dlqOffset: '3', archivedAt: t0 })], 'p0-3-3');
    await store.append([letter({ id, source, reporter: 'lake', dlqOffset: '4', archivedAt: t0 + 5, message: 'lake says so' })], 'p0-4-4');
    await store.append([letter({ id, source, reporter: 'speed', dlqOffset: '9', archivedAt: t0 + 9 })], 'p0-9-9');
    const [one, ...rest] = await store.list();
    expect(rest).toEqual([]);
    expect(one).toMatchObject({ id, source, seenBy: ['lake', 'speed'], message: 'bad bytes', dlqOffset: '3', attempts: 1 });
    expect(await store.count({ stage: ['decode'] })).toBe(1);
    store.close();
  });

  it('reads letter files written before a column existed (no reporter column)', async () => {
    const dir = tempDir('dlq-store');
    mkdirSync(`${dir}/letters/dt=2025-01-10`, { recursive: true });
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    await c.run(`COPY (SELECT 'old-1' AS id, 'decode' AS stage, 'PAYLOAD_FORMAT' AS code, 'old' AS message, NULL::VARCHAR AS field, NULL::VARCHAR AS site_id,
      ${t0}::BIGINT AS first_seen, 1 AS attempts, NULL::VARCHAR AS source_topic, NULL::INTEGER AS source_partition, NULL::VARCHAR AS source_offset,
      'binary' AS payload_format, '\x01'::BLOB AS payload, 0 AS dlq_partition, 0::BIGINT AS dlq_offset, ${t0}::BIGINT AS archived_at)
      TO '${dir}/letters/dt=2025-01-10/p0-0-0.parquet' (FORMAT parquet)`);
    c.closeSync();
    db.closeSync();
    const store = new DeadLetterStore(dir);
    expect(await store.list()).toMatchObject([{ id: 'old-1', seenBy: [], message: 'old' }]);
    await store.append([letter({ reporter: 'collector', firstSeen: t0 })], 'p0-1-1');
    expect((await store.list()).map((l) => l.seenBy)).toEqual(expect.arrayContaining([[], ['collector']]));
    store.close();
  });
});
