/**
 * The channel rule table as the batch views compute it (channel.sql.ts, DuckDB SQL generated from
 * core/channels.ts) gives each hand-written case its channel, the one channelOf() gives the speed
 * path: a rule the generator renders wrongly, or a pattern RE2 reads otherwise than JavaScript, fails here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openSmallDuckDB, type DuckDB } from '../core/duckdb.ts';
import { CHANNEL_CASES } from '../testing/channels.fixture.ts';
import { CHANNEL_CATEGORY_SQL, CHANNEL_INPUTS_SQL, CHANNEL_SQL } from './channel.sql.ts';

let db: DuckDB | undefined;
afterAll(() => db?.close());

describe('the channel rule table in DuckDB SQL', () => {
  it('gives every case the channel of the table', async () => {
    db = await openSmallDuckDB(1);
    await db.conn.run('CREATE TABLE cases (i INTEGER, referrer_host VARCHAR, hostname VARCHAR, utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR)');
    for (const [i, c] of CHANNEL_CASES.entries()) {
      const { referrer_host, hostname, utm_source, utm_medium, utm_campaign } = c.input;
      await db.conn.run('INSERT INTO cases VALUES ($i, $r, $h, $s, $m, $c)', { i, r: referrer_host, h: hostname, s: utm_source, m: utm_medium, c: utm_campaign });
    }
    const rows = (
      await db.conn.runAndReadAll(`SELECT i, ${CHANNEL_SQL} AS channel FROM (SELECT *, ${CHANNEL_CATEGORY_SQL} AS ch_cat FROM (SELECT *, ${CHANNEL_INPUTS_SQL} FROM cases)) ORDER BY i`)
    ).getRowObjectsJS();
    expect(rows.map((r) => ({ why: CHANNEL_CASES[Number(r.i)]!.why, channel: r.channel }))).toEqual(CHANNEL_CASES.map((c) => ({ why: c.why, channel: c.channel })));
  });
});
