/**
 * What reaches the SQL text of the ClickHouse views: filter values, folder names, instants, zone
 * bucket starts and site lists pass validation and quoting; a hostile value stays one literal.
 */
import { describe, expect, it } from 'vitest';
import { UnsupportedQueryError } from '../core/views.ts';
import { Calendar } from '../core/calendar.ts';
import { bucketSql, estimatedIndex, filterSql, msLiteral, ZONE_WINDOW } from './views.sql.ts';
import { dirsCondition, quoteDir, shardsOfSitesSql } from './views.schema.ts';

describe('views SQL text', () => {
  it('quotes filter values into one literal each, and refuses an unknown dimension', () => {
    expect(filterSql({ page: "/a'b\\c", country: 'DE' })).toBe(" AND page = '/a\\'b\\\\c' AND country = 'DE'");
    expect(filterSql({ utm_source: "x' OR '1'='1" })).toBe(" AND utm_source = 'x\\' OR \\'1\\'=\\'1'");
    expect(() => filterSql({ ['site_id; DROP TABLE x' as 'page']: 'v' })).toThrow(UnsupportedQueryError);
  });

  it('takes only batch folder names, and an empty list matches nothing', () => {
    expect(quoteDir('days/2026-03-14/20260315T010203-1a2b3c4d')).toBe("'days/2026-03-14/20260315T010203-1a2b3c4d'");
    for (const bad of ["days/2026-03-14/x'; DROP TABLE t; --", '../days/2026-03-14/r', 'days/2026-3-14/r', 'days/2026-03-14/'])
      expect(() => quoteDir(bad), bad).toThrow(/not a batch view folder/);
    expect(dirsCondition([])).toBe('0');
    expect(dirsCondition(['days/2026-03-14/r1', 'days/2026-03-15/r1'])).toBe("dir IN ('days/2026-03-14/r1', 'days/2026-03-15/r1')");
  });

  it('writes instants as integers only', () => {
    expect(msLiteral(1_700_000_000_000)).toBe('1700000000000');
    for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 60]) expect(() => msLiteral(bad)).toThrow(/not an instant/);
  });

  it('cuts fixed UTC buckets by division and zone buckets by their starts', () => {
    expect(bucketSql('hour', true, [])).toEqual({ prelude: '', expr: 'intDiv(event_ms, 3600000) * 3600000' });
    expect(bucketSql('minute', false, [])).toEqual({ prelude: '', expr: 'intDiv(event_ms, 60000) * 60000' });
    const day = bucketSql('day', false, [0, 86_400_000]);
    expect(day.prelude).toBe('WITH [0, 86400000] AS bounds');
    expect(day.expr).toBe('toInt64(arrayElement(bounds, greatest(toInt64(1), toInt64(intDiv(event_ms - 0, 86400000)) + -2) - 1 + arrayCount(b -> b <= event_ms, arraySlice(bounds, greatest(toInt64(1), toInt64(intDiv(event_ms - 0, 86400000)) + -2), 7))))');
    expect(bucketSql('week', true, [5]).expr).toContain('arrayCount');
  });

  it("finds every event's zone bucket within the search window, over 400 days of DST changes and odd offsets", () => {
    const zones = ['America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns', 'Europe/London', 'America/Santiago'];
    const { before, size } = ZONE_WINDOW;
    let checked = 0;
    for (const zone of zones) {
      const cal = Calendar.of(zone);
      for (const start of [Date.UTC(2024, 0, 1), Date.UTC(2025, 2, 9, 5), Date.UTC(2026, 9, 3, 13, 30)])
        for (const grain of ['hour', 'day', 'week', 'month'] as const) {
          const bounds = cal.buckets(start, start + 400 * 86_400_000, grain);
          for (let k = 0; k < bounds.length - 1; k++)
            for (const t of [Math.max(bounds[k]!, start), bounds[k + 1]! - 1]) {
              const lo = Math.max(1, estimatedIndex(t, bounds[0]!, grain) - before);
              if (k + 1 < lo || k + 1 > lo + size - 1) expect.unreachable(`${zone} ${grain}: bucket ${k + 1} of ${new Date(t).toISOString()} outside the window from ${lo}`);
              checked++;
            }
        }
    }
    expect(checked).toBeGreaterThan(400_000);
    // Over 400,000 checks take about 2 s alone and several times that beside the other unit files on two cores.
  }, 60_000);

  it('asks the server for the shards of sites with each site quoted', () => {
    expect(shardsOfSitesSql(["sh'op", 'blog'], 2)).toBe("SELECT site, toUInt32(cityHash64(site) % 2) AS shard FROM (SELECT arrayJoin(['sh\\'op', 'blog']) AS site)");
    expect(() => shardsOfSitesSql(['a'], 0)).toThrow(/not a number of shards/);
  });
});
