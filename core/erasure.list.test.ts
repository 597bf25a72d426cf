import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSmallDuckDB } from './duckdb.ts';
import { ErasureList } from './erasure.list.ts';

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'twinlane-erasures-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the erasure list', () => {
  it('is empty until an erasure is listed, then names exactly the erased visitor or site', () => {
    const dir = dataDir();
    const list = new ErasureList(dir, 0);
    expect(list.empty).toBe(true);
    expect(list.erased('shop', 'v1')).toBe(false);
    const e = list.add('shop', 'v1');
    expect(e).toMatchObject({ site: 'shop', state: 'pending' });
    expect(e.visitor).toMatch(/^[0-9a-f]{64}$/);
    expect(list.erased('shop', 'v1')).toBe(true);
    expect(list.erased('shop', 'v10')).toBe(false);
    expect(list.erased('blog', 'v1')).toBe(false);
    expect(list.erased('shop', null)).toBe(false);
    // Listing the same visitor again resumes the same entry.
    expect(list.add('shop', 'v1').id).toBe(e.id);
    list.add('blog');
    expect(list.erased('blog', 'anyone')).toBe(true);
    list.markDone(e.id);
    expect(list.list().find((x) => x.id === e.id)?.state).toBe('done');
    // The id is never on disk in clear; the hash is keyed (not the bare sha256 of the id).
    const text = readFileSync(list.listPath, 'utf8');
    expect(text).not.toContain('"v1"');
    expect(text).not.toContain(createHash('sha256').update('shop|v1').digest('hex'));
  });

  it('another reader sees a new erasure once it refreshes', () => {
    const dir = dataDir();
    const reader = new ErasureList(dir, 60_000);
    new ErasureList(dir, 0).add('shop', 'v2');
    expect(reader.erased('shop', 'v2')).toBe(false); // not looked yet
    expect(reader.refresh(true)).toBe(true);
    expect(reader.erased('shop', 'v2')).toBe(true);
    expect(reader.refresh(true)).toBe(false);
  });

  it("DuckDB's macro matches the same rows as erased()", async () => {
    const dir = dataDir();
    const list = new ErasureList(dir, 0);
    const db = await openSmallDuckDB(1);
    try {
      await db.conn.run(list.macroSql());
      expect((await db.conn.runAndReadAll(`SELECT tl_erased('shop', 'v1') AS x`)).getRowObjectsJS()[0]!.x).toBe(false);
      list.add('shop', 'v1');
      list.add('shop', "o'brien");
      list.add('news');
      await db.conn.run(list.macroSql());
      const rows: [string, string | null][] = [['shop', 'v1'], ['shop', "o'brien"], ['shop', 'v2'], ['shop', null], ['news', 'x'], ['blog', 'v1']];
      for (const [s, v] of rows) {
        const got = (await db.conn.runAndReadAll(`SELECT tl_erased($s, $v::VARCHAR) AS x`, { s, v })).getRowObjectsJS()[0]!.x;
        expect(got, `${s}/${v}`).toBe(list.erased(s, v));
      }
      // One entry only (an erasure's own pass).
      await db.conn.run(list.macroSql(list.list()[0]));
      expect((await db.conn.runAndReadAll(`SELECT tl_erased('news', 'x') AS x`)).getRowObjectsJS()[0]!.x).toBe(false);
    } finally {
      db.close();
    }
  });
});
