import { describe, expect, it } from 'vitest';
import { labelOf, MISSING_LABEL } from '../core/views.ts';
import { AGG, CURRENCY_INDEX, KIND, NAME_SKETCHES_PER_MINUTE, parseTupleField, revenueField, TUPLE_DIMS, tupleField } from './redis.keys.ts';
import { offsetAbove, rollupSite } from './rollup.aggregator.ts';
import { traffic } from './testing/speed.fixture.ts';
import { truthChannel } from '../testing/truth.ts';

/** The five missing UTM tags of an untagged event as stored (empty; parseTupleField labels them), then its channel. */
const untagged = (channel: string) => ['', '', '', '', '', channel];

describe('rollupSite', () => {
  const events = traffic({ events: 2_000, sites: ['alpha'] }).map((event, i) => ({ offset: String(i), event }));

  it('sums page views, events, purchases and revenue per minute exactly, bots apart', () => {
    const r = rollupSite('alpha', events)!;
    let pv = 0, ev = 0, pu = 0, rev = 0, bpv = 0;
    for (const m of r.minutes.values()) {
      pv += m.counters.get(AGG.pageviews) ?? 0;
      ev += m.counters.get(AGG.events) ?? 0;
      pu += m.counters.get(AGG.purchases) ?? 0;
      rev += m.counters.get(revenueField('EUR')) ?? 0;
      bpv += m.counters.get(AGG.botPageviews) ?? 0;
    }
    const human = events.filter((e) => !e.event.is_bot).map((e) => e.event);
    expect(pv).toBe(human.filter((e) => e.type === 'pageview').length);
    expect(ev).toBe(human.filter((e) => e.type === 'custom').length);
    expect(pu).toBe(human.filter((e) => e.type === 'purchase').length);
    expect(rev).toBe(human.reduce((s, e) => s + (e.currency === 'EUR' ? (e.revenue_micros ?? 0) : 0), 0));
    expect(rev, 'the traffic mixes currencies').toBeLessThan(human.reduce((s, e) => s + (e.revenue_micros ?? 0), 0));
    expect(rev).toBeGreaterThan(0);
    expect(bpv).toBe(events.filter((e) => e.event.is_bot && e.event.type === 'pageview').length);
    expect(r.events).toBe(2_000);
    expect(r.maxOffset).toBe('1999');
  });

  it("counts human page views and custom events per value of the site's listed properties only, (none) for a missing or empty one", () => {
    const mixed = events.map((e, i) => ({ ...e, event: { ...e.event, properties: i % 4 === 0 ? { ...e.event.properties, author: i % 8 === 0 ? 'ada' : '' } : e.event.properties } }));
    const r = rollupSite('alpha', mixed, null, ['plan', 'author'])!;
    const sums = new Map<string, number>();
    for (const m of r.minutes.values()) for (const [k, values] of m.props ?? []) for (const [v, n] of values) sums.set(`${k}=${v}`, (sums.get(`${k}=${v}`) ?? 0) + n);
    const want = new Map<string, number>();
    for (const { event: e } of mixed) {
      if (e.is_bot || (e.type !== 'pageview' && e.type !== 'custom')) continue;
      const kind = e.type === 'pageview' ? 'p' : 'e';
      for (const key of ['plan', 'author']) {
        const v = e.properties[key];
        const k = `${kind}${key}=${v === undefined || v === '' ? '(none)' : v}`;
        want.set(k, (want.get(k) ?? 0) + 1);
      }
    }
    expect(want.get('eplan=pro')).toBeGreaterThan(0);
    expect(want.get('pauthor=ada')).toBeGreaterThan(0);
    expect(Object.fromEntries(sums)).toEqual(Object.fromEntries(want));
    // Nothing listed: nothing kept.
    expect([...rollupSite('alpha', mixed)!.minutes.values()].every((m) => m.props === undefined)).toBe(true);
  });

  it('keeps the tuple counters consistent with the aggregates, missing values by their contract labels', () => {
    const r = rollupSite('alpha', events)!;
    for (const m of r.minutes.values()) {
      let tuplePv = 0;
      for (const [f, n] of m.counters) if (f.startsWith(KIND.pageview + '\x1f')) tuplePv += n;
      expect(tuplePv).toBe(m.counters.get(AGG.pageviews) ?? 0);
    }
    const noUtm = events.find((e) => !e.event.is_bot && e.event.type === 'pageview' && e.event.utm_source === null && e.event.referrer_host === null)!.event;
    const one = rollupSite('alpha', [{ offset: '5', event: noUtm }])!;
    const field = tupleField(KIND.pageview, 'pageview', [noUtm.country!, noUtm.device_type, noUtm.browser!, noUtm.os!, ...untagged('Direct')]);
    expect([...one.minutes.values()][0]!.counters.get(field)).toBe(1);
    // What the user-agent parser reports for an agent it cannot read, no country, no referrer:
    // stored as batch labels them, the direct visit as a referrer member of its own.
    const unknown = { ...noUtm, country: null, device_type: 'unknown', browser: null, os: null, referrer_host: null };
    const minute = [...rollupSite('alpha', [{ offset: '6', event: unknown }])!.minutes.values()][0]!;
    expect(minute.counters.get(tupleField(KIND.pageview, 'pageview', ['(unknown)', '(unknown)', '(unknown)', '(unknown)', ...untagged('Direct')]))).toBe(1);
    expect(minute.referrers.get('(direct)')).toBe(1);
    expect([...minute.dimVisitors.keys()].sort()).toEqual(['country:(unknown)', 'device:(unknown)']);
  });

  it('keeps every UTM tag and the channel in the tuple, the currency after them', () => {
    const base = events.find((e) => !e.event.is_bot && e.event.type === 'pageview')!.event;
    const tags = { referrer_host: 'www.bing.com', utm_source: 'bing', utm_medium: 'cpc', utm_campaign: 'brand', utm_term: 'running shoes', utm_content: 'ad 2' };
    const page = { ...base, ...tags };
    const purchase = { ...page, type: 'purchase' as const, name: 'purchase', revenue_micros: 5_000_000, currency: 'EUR' };
    // A term without a source or medium: the event stays untagged for its channel, its term is kept.
    const termOnly = { ...base, referrer_host: 'github.com', utm_source: null, utm_medium: null, utm_campaign: null, utm_term: 'shoes', utm_content: null };
    const m = [...rollupSite('alpha', [{ offset: '1', event: page }, { offset: '2', event: purchase }, { offset: '3', event: termOnly }])!.minutes.values()][0]!;
    const dims = (e: typeof page) => [labelOf('country', e.country), labelOf('device', e.device_type), labelOf('browser', e.browser), labelOf('os', e.os)];
    expect(m.counters.get(tupleField(KIND.pageview, 'pageview', [...dims(page), 'bing', 'cpc', 'brand', 'running shoes', 'ad 2', 'Paid Search']))).toBe(1);
    expect(m.counters.get(tupleField(KIND.revenue, 'purchase', [...dims(page), 'bing', 'cpc', 'brand', 'running shoes', 'ad 2', 'Paid Search', 'EUR']))).toBe(5_000_000);
    const termField = tupleField(KIND.pageview, 'pageview', [...dims(page), '', '', '', 'shoes', '', 'Referral']);
    expect(m.counters.get(termField)).toBe(1);
    // Read back, a missing tag is its contract label.
    expect(parseTupleField(termField)!.dims.slice(4)).toEqual([MISSING_LABEL.utm_source, MISSING_LABEL.utm_medium, MISSING_LABEL.utm_campaign, 'shoes', MISSING_LABEL.utm_content, 'Referral']);
    const revenue = [...m.counters.keys()].map(parseTupleField).find((t) => t?.kind === KIND.revenue)!;
    expect(revenue.dims).toHaveLength(TUPLE_DIMS.length + 1);
    expect(revenue.dims[CURRENCY_INDEX]).toBe('EUR');
    expect(revenue.dims[TUPLE_DIMS.indexOf('channel')]).toBe(truthChannel(purchase));
  });

  it('rolls up only events above the applied offset, and nothing when all were applied', () => {
    const r = rollupSite('alpha', events, '1499')!;
    expect(r.events).toBe(500);
    expect(rollupSite('alpha', events, '1999')).toBeNull();
  });

  it('compares offsets as int64 decimals, not as text', () => {
    expect(offsetAbove('10', '9')).toBe(true);
    expect(offsetAbove('9', '10')).toBe(false);
    expect(offsetAbove('5', '5')).toBe(false);
    expect(offsetAbove('0', null)).toBe(true);
  });
});

describe('rollupSite with more event names than tuple codes hold', () => {
  it('counts every event exactly, by field string past the limit', () => {
    const base = traffic({ events: 1, sites: ['alpha'], botFraction: 0 })[0]!;
    const events = Array.from({ length: 2_500 }, (_, i) => ({ offset: String(i), event: { ...base, type: 'custom' as const, name: `custom-${i}` } }));
    const r = rollupSite('alpha', events)!;
    const m = [...r.minutes.values()][0]!;
    for (let i = 0; i < 2_500; i++) {
      const acquisition = [base.utm_source ?? '', base.utm_medium ?? '', base.utm_campaign ?? '', base.utm_term ?? '', base.utm_content ?? '', truthChannel(base)];
      const field = tupleField(KIND.custom, `custom-${i}`, [labelOf('country', base.country), labelOf('device', base.device_type), labelOf('browser', base.browser), labelOf('os', base.os), ...acquisition]);
      expect(m.counters.get(field)).toBe(1);
    }
    expect(m.counters.get(AGG.events)).toBe(2_500);
    // Visitor sketches per event name stay bounded whatever names clients send: the rest go to (other).
    const named = [...m.dimVisitors.keys()].filter((k) => k.startsWith('event_name:'));
    expect(named.length).toBeLessThanOrEqual(NAME_SKETCHES_PER_MINUTE + 1);
    expect(named).toContain('event_name:(other)');
  });
});

describe('rollupSite visitor sketches', () => {
  it('puts each human visitor of a minute in its sketch and in one sketch per country and device value and custom event name it had', () => {
    // A site of its own: the names of the test above filled alpha's name sketches for its minute.
    const base = traffic({ events: 3_000, sites: ['sketched'] });
    // Some visitors change country or device within a minute.
    const events = base.map((event, i) => ({ offset: String(i), event: i % 7 === 0 ? { ...event, country: 'ZZ', device_type: i % 2 ? 'tv' : event.device_type } : event }));
    const r = rollupSite('sketched', events)!;
    for (const m of r.minutes.values()) {
      const humans = events.map((e) => e.event).filter((e) => !e.is_bot && Math.floor(e.event_time / 60_000) === m.minute);
      expect(new Set(m.visitors)).toEqual(new Set(humans.map((e) => e.visitor_id)));
      expect(m.visitors.length).toBe(new Set(m.visitors).size);
      const want = new Map<string, Set<string>>();
      for (const e of humans) {
        // Custom events and purchases (format 6): their name's sketch too, goals' converting visitors.
        const named = e.type !== 'pageview' || labelOf('event_name', e.name) !== 'pageview' ? [`event_name:${labelOf('event_name', e.name)}`] : [];
        for (const dv of [`country:${labelOf('country', e.country)}`, `device:${labelOf('device', e.device_type)}`, ...named]) {
          if (!want.has(dv)) want.set(dv, new Set());
          want.get(dv)!.add(e.visitor_id);
        }
      }
      expect(new Map([...m.dimVisitors].map(([dv, ids]) => [dv, new Set(ids)]))).toEqual(want);
    }
  });
});
