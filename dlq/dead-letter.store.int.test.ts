import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCleanups, tempDir } from '../testing/helpers.ts';
import { DeadLetterStore } from './dead-letter.store.ts';
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
});
