import { describe, expect, it } from 'vitest';
import { splitJsonArray } from './json-array.splitter.ts';

const split = (text: string) => splitJsonArray(Buffer.from(text)).map((b) => b.toString());

describe('splitJsonArray', () => {
  it('returns each element exactly as sent', () => {
    expect(split('[{"a":1}, {"b":"x"} ,3,"s",null,[1,[2]]]')).toEqual(['{"a":1}', '{"b":"x"}', '3', '"s"', 'null', '[1,[2]]']);
  });

  it('ignores brackets, commas and escaped quotes inside strings', () => {
    expect(split('[{"t":"a,]}[{\\"\\\\"},{"u":"é ü ✓ 😀"}]')).toEqual(['{"t":"a,]}[{\\"\\\\"}', '{"u":"é ü ✓ 😀"}']);
  });

  it('handles whitespace, a BOM, and empty arrays', () => {
    expect(split('\uFEFF \n[ \n {"a":1}\n,\t{"b":2} \n] \n')).toEqual(['{"a":1}', '{"b":2}']);
    expect(split('[]')).toEqual([]);
    expect(split('[ ]')).toEqual([]);
  });

  it('agrees with JSON.parse on every element of a large generated array', () => {
    const values = Array.from({ length: 500 }, (_, i) => ({ i, s: `x"${i}\\,]`, n: [i, { d: i % 3 ? null : 'q' }] }));
    const parts = split(JSON.stringify(values, null, 2));
    expect(parts.map((p) => JSON.parse(p))).toEqual(values);
  });
});
