import { describe, expect, it } from 'vitest';
import { ApplyCoalescer } from './apply.coalescer.ts';
import { SiteRollupBuilder } from './rollup.aggregator.ts';
import type { ApplyItem, MultiApplyResult, RollupWriter } from './rollup.writer.ts';
import { traffic } from './testing/speed.fixture.ts';

/** Records the calls; the first site's call conflicts when `conflict` is set. */
function fakeWriter(conflict = false): { writer: RollupWriter; calls: ApplyItem[][] } {
  const calls: ApplyItem[][] = [];
  const writer = {
    applyMany: async (items: ApplyItem[]): Promise<MultiApplyResult[]> => {
      calls.push(items);
      return items.map((it, i) => (conflict && i === 0 ? { applied: false, current: it.offsets.map(() => '42') } : { applied: true }));
    },
  } as unknown as RollupWriter;
  return { writer, calls };
}

function builders(site: string, events: number, seed: number): Map<string, SiteRollupBuilder> {
  const b = new SiteRollupBuilder(site, null);
  traffic({ events, sites: [site], seed }).forEach((e, i) => b.add(String(i), e));
  return new Map([[site, b]]);
}

describe('ApplyCoalescer', () => {
  it('writes the batches of handlers that entered together in one round, one item per site', async () => {
    const { writer, calls } = fakeWriter();
    const c = new ApplyCoalescer(writer);
    const [s1, s2, s3] = [c.enter(), c.enter(), c.enter()];
    const a = s1.submit({ pos: { topic: 't', partition: 0 }, builders: builders('s1', 100, 1), expected: new Map() });
    expect(calls).toHaveLength(0);
    s3.release(); // a handler with nothing to write
    expect(calls).toHaveLength(0);
    const b = s2.submit({ pos: { topic: 't', partition: 1 }, builders: builders('s1', 50, 2), expected: new Map([['s1', '9']]) });
    expect(await a).toEqual(new Map());
    expect(await b).toEqual(new Map());
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(1);
    expect(calls[0]![0]!.offsets).toEqual([
      { field: 't:0', expected: null, next: '99' },
      { field: 't:1', expected: '9', next: '49' },
    ]);
    expect(calls[0]![0]!.rollup.events).toBe(150);
  });

  it('hands a conflicting site back to every handler of it, with its partition record', async () => {
    const { writer } = fakeWriter(true);
    const c = new ApplyCoalescer(writer);
    const [s1, s2] = [c.enter(), c.enter()];
    const a = s1.submit({ pos: { topic: 't', partition: 0 }, builders: builders('s1', 10, 1), expected: new Map() });
    const b = s2.submit({ pos: { topic: 't', partition: 1 }, builders: builders('s1', 10, 2), expected: new Map() });
    expect(await a).toEqual(new Map([['s1', '42']]));
    expect(await b).toEqual(new Map([['s1', '42']]));
  });

  it('hands a site back unwritten, with the records its handlers expected, when two partitions of the round hold copies of one event', async () => {
    const { writer, calls } = fakeWriter();
    const c = new ApplyCoalescer(writer);
    const [s1, s2] = [c.enter(), c.enter()];
    const evs = traffic({ events: 30, sites: ['s1', 's2'], seed: 5 });
    const withDedupe = (partition: number, list: typeof evs) => {
      const out = new Map<string, SiteRollupBuilder>();
      list.forEach((e, i) => {
        let b = out.get(e.site_id);
        if (!b) out.set(e.site_id, (b = new SiteRollupBuilder(e.site_id, null, { tag: `${partition}:` })));
        b.add(String(i), e);
      });
      return out;
    };
    // A client's retry of an s1 event that took partition 1 while the first copy is on partition 0.
    const copy = evs.find((e) => e.site_id === 's1')!;
    const p0 = evs.filter((_, i) => i % 2 === 0 || evs[i] === copy);
    const p1 = [...evs.filter((_, i) => i % 2 === 1 && evs[i] !== copy), copy];
    const a = s1.submit({ pos: { topic: 't', partition: 0 }, builders: withDedupe(0, p0), expected: new Map([['s1', '3']]) });
    const b = s2.submit({ pos: { topic: 't', partition: 1 }, builders: withDedupe(1, p1), expected: new Map() });
    expect(await a).toEqual(new Map([['s1', '3']]));
    expect(await b).toEqual(new Map([['s1', null]]));
    // s2 is written with the round; s1 is not.
    expect(calls).toHaveLength(1);
    expect(calls[0]!.map((i) => i.rollup.site)).toEqual(['s2']);
  });
});
