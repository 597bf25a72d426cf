/**
 * The CSV reader of `twinlane import events`: RFC 4180 quoting (commas, `""` and line breaks
 * inside quotes), CRLF files, a BOM, empty fields, rows of the wrong width, and the row numbers
 * and resume positions the import relies on. Each expectation is written out by hand.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CsvSource, splitCsvRecord } from './csv.source.ts';
import type { ResumePoint, SourceRow } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'twinlane-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function csvFile(text: string | Buffer): string {
  const path = join(dir, `f${files++}.csv`);
  writeFileSync(path, text);
  return path;
}

async function read(path: string, from: ResumePoint = { rows: 0 }): Promise<SourceRow[]> {
  const out: SourceRow[] = [];
  for await (const r of new CsvSource(path).rows(from)) out.push(r);
  return out;
}

describe('splitCsvRecord', () => {
  const cases: [string, string, string[] | undefined][] = [
    ['plain fields', 'a,b,c', ['a', 'b', 'c']],
    ['a comma inside quotes', '"a,b",c', ['a,b', 'c']],
    ['escaped quotes', '"He said ""hi""",x', ['He said "hi"', 'x']],
    ['only an escaped quote', '""""', ['"']],
    ['an empty quoted field', '"",x', ['', 'x']],
    ['empty fields in the middle', 'a,,c', ['a', '', 'c']],
    ['an empty first field', ',a', ['', 'a']],
    ['an empty last field', 'a,', ['a', '']],
    ['an empty last field after quotes', '"a",', ['a', '']],
    ['a line break inside quotes', '"line 1\nline 2",x', ['line 1\nline 2', 'x']],
    ['a CRLF inside quotes', '"line 1\r\nline 2"', ['line 1\r\nline 2']],
    ['one empty field', '', ['']],
    ['a quote that never closes', '"abc,d', undefined],
    ['text after a closing quote', '"a"b,c', undefined],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(splitCsvRecord(text)).toEqual(want));
});

describe('CsvSource', () => {
  it('reads a CRLF file with a BOM, quoted commas, quotes and line breaks; empty fields are absent; values typed by column', async () => {
    const path = csvFile(
      Buffer.from(
        '\uFEFFsite_id,type,event_time,visitor_id,url,title,is_bot,screen_width,properties\r\n' +
          'shop,pageview,1700000000000,v1,https://shop.example/a,"Hello, ""world""",false,1280,"{""plan"":""pro""}"\r\n' +
          'shop,pageview,1700000001000,v2,https://shop.example/b,"two\r\nlines",,,\r\n' +
          '\r\n' +
          'shop,custom,1700000002000,v3,https://shop.example/c,,true,wide,{not json}\r\n',
        'utf8',
      ),
    );
    const rows = await read(path);
    expect(rows.map((r) => r.row)).toEqual([2, 3, 6]);
    expect(rows[0]!.record).toEqual({ site_id: 'shop', type: 'pageview', event_time: 1_700_000_000_000, visitor_id: 'v1', url: 'https://shop.example/a', title: 'Hello, "world"', is_bot: false, screen_width: 1280, properties: { plan: 'pro' } });
    // A line break inside quotes is kept as written; the CRLF ending a record is not part of it.
    expect(rows[1]!.record).toEqual({ site_id: 'shop', type: 'pageview', event_time: 1_700_000_001_000, visitor_id: 'v2', url: 'https://shop.example/b', title: 'two\r\nlines' });
    // Text that is not of its column's type stays text, for validation to name.
    expect(rows[2]!.record).toMatchObject({ type: 'custom', is_bot: true, screen_width: 'wide', properties: '{not json}' });
    expect(rows[2]!.record).not.toHaveProperty('title');
    expect(rows[0]!.raw().toString('utf8')).toBe('shop,pageview,1700000000000,v1,https://shop.example/a,"Hello, ""world""",false,1280,"{""plan"":""pro""}"');
  });

  it('reads a row of too many or too few fields, or broken quoting, as unreadable, naming the problem; the rows around it stay', async () => {
    const path = csvFile(
      'site_id,type,visitor_id\n' + //
        'shop,pageview,v1\n' +
        'shop,pageview,v2,extra\n' +
        'shop,pageview\n' +
        'shop,"page"view,v4\n' +
        'shop,pageview,v5\n' +
        'shop,pageview,"never closed\n' +
        'and on\n',
    );
    const rows = await read(path);
    expect(rows.map((r) => [r.row, r.record])).toEqual([
      [2, { site_id: 'shop', type: 'pageview', visitor_id: 'v1' }],
      [3, { unreadable: '4 fields where the header names 3' }],
      [4, { unreadable: '2 fields where the header names 3' }],
      [5, { unreadable: 'broken CSV quoting' }],
      [6, { site_id: 'shop', type: 'pageview', visitor_id: 'v5' }],
      [7, { unreadable: 'a quoted field opened on line 7 never closes' }],
    ]);
    expect(rows[5]!.raw().toString('utf8')).toBe('shop,pageview,"never closed\nand on');
  });

  it('resumes after a row at the next one, with the same row numbers, across a quoted line break', async () => {
    const path = csvFile('site_id,title\nshop,"a\nb"\nshop,c\nshop,d\n');
    const all = await read(path);
    expect(all.map((r) => r.row)).toEqual([2, 4, 5]);
    const rest = await read(path, all[0]!.resume);
    expect(rest.map((r) => [r.row, r.record])).toEqual([
      [4, { site_id: 'shop', title: 'c' }],
      [5, { site_id: 'shop', title: 'd' }],
    ]);
    expect(rest.map((r) => r.resume.rows)).toEqual([2, 3]);
  });

  it('refuses a header with an unknown column, or an empty file, naming the file', async () => {
    const bad = csvFile('site_id,colour\nshop,red\n');
    await expect(read(bad)).rejects.toThrow(/unknown column\(s\) colour/);
    const empty = csvFile('');
    await expect(read(empty)).rejects.toThrow(/is empty/);
  });
});
