/**
 * What reaches the SQL text of the ClickHouse views: filter values, folder names, instants, zone
 * bucket starts and site lists pass validation and quoting; a hostile value stays one literal.
 */
import { describe, expect, it } from 'vitest';
import { UnsupportedQueryError } from '../core/views.ts';
import { bucketSql, filterSql, msLiteral } from './views.sql.ts';
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
    expect(bucketSql('hour', true, [])).toBe('intDiv(event_ms, 3600000) * 3600000');
    expect(bucketSql('minute', false, [])).toBe('intDiv(event_ms, 60000) * 60000');
    expect(bucketSql('day', false, [0, 86_400_000])).toBe('arrayElement([toInt64(0), toInt64(86400000)], arrayCount(b -> b <= event_ms, [toInt64(0), toInt64(86400000)]))');
    expect(bucketSql('week', true, [5])).toContain('arrayCount');
  });

  it('asks the server for the shards of sites with each site quoted', () => {
    expect(shardsOfSitesSql(["sh'op", 'blog'], 2)).toBe("SELECT site, toUInt32(cityHash64(site) % 2) AS shard FROM (SELECT arrayJoin(['sh\\'op', 'blog']) AS site)");
    expect(() => shardsOfSitesSql(['a'], 0)).toThrow(/not a number of shards/);
  });
});
