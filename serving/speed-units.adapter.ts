/**
 * The speed store reports revenue in micro-units (its Redis counters add `revenue_micros`),
 * the batch store in currency units. core/views.ts does not fix the unit, so the serving layer
 * states it: currency units, rounded to cents, like batch. This adapter converts the speed
 * side; the integration test compares merged revenue with the ground truth, so a change of
 * unit on either side fails there.
 */
import type { BreakdownQuery, MetricValues, SeriesQuery, TotalsQuery } from '../core/views.ts';
import type { SpeedReader } from './types.ts';

const toUnits = (micros: number) => Math.round(micros / 10_000) / 100;

function convert(values: MetricValues): MetricValues {
  return values.revenue === undefined ? values : { ...values, revenue: toUnits(values.revenue) };
}

export function speedInCurrencyUnits(speed: SpeedReader): SpeedReader {
  const wrapped: SpeedReader = {
    source: speed.source,
    exact: speed.exact,
    coverage: (site) => speed.coverage(site),
    series: async (q: SeriesQuery) => (await speed.series(q)).map((p) => ({ start: p.start, values: convert(p.values) })),
    totals: async (q: TotalsQuery) => convert(await speed.totals(q)),
    breakdown: async (q: BreakdownQuery) => {
      const rows = await speed.breakdown(q);
      return q.metric === 'revenue' ? rows.map((r) => ({ value: r.value, count: toUnits(r.count) })) : rows;
    },
  };
  if (speed.visitorsUnion) wrapped.visitorsUnion = speed.visitorsUnion.bind(speed);
  if (speed.realtime) wrapped.realtime = speed.realtime.bind(speed);
  return wrapped;
}
