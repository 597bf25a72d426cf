/**
 * Cache decorators for the two stores. A batch version never changes, so everything read
 * from it is cached under its version id; the next version gets new keys, which is also how
 * a new batch run is picked up by the very next query. Speed answers are cached only for
 * `ttlMs` (0 turns it off), since the speed store changes every second.
 */
import type { BreakdownQuery, Filters, SeriesQuery, TotalsQuery } from '../core/views.ts';
import type { ResultCache } from './result.cache.ts';
import type { BatchViews, FunnelQuery, SpeedViews } from './types.ts';

export type CacheObserver = (kind: 'batch' | 'speed' | 'response', hit: boolean) => void;

export function cachedBatch(snapshot: BatchViews, cache: ResultCache, observe?: CacheObserver): BatchViews {
  const key = (method: string, args: unknown) => `b\u0000${snapshot.version}\u0000${method}\u0000${JSON.stringify(args)}`;
  const onHit = observe && ((hit: boolean) => observe('batch', hit));
  const wrapped: BatchViews = {
    source: snapshot.source,
    exact: snapshot.exact,
    version: snapshot.version,
    coverage: (site: string) => cache.getOrLoad(key('coverage', site), () => snapshot.coverage(site), Infinity, onHit),
    series: (q: SeriesQuery) => cache.getOrLoad(key('series', q), () => snapshot.series(q), Infinity, onHit),
    totals: (q: TotalsQuery) => cache.getOrLoad(key('totals', q), () => snapshot.totals(q), Infinity, onHit),
    breakdown: (q: BreakdownQuery) => cache.getOrLoad(key('breakdown', q), () => snapshot.breakdown(q), Infinity, onHit),
  };
  // Visitor and visit ids stream through (the union keeps their sketch, speed/speed.reader.ts).
  if (snapshot.visitorIds) wrapped.visitorIds = snapshot.visitorIds.bind(snapshot);
  if (snapshot.visitorSets) wrapped.visitorSets = snapshot.visitorSets.bind(snapshot);
  if (snapshot.sessionIds) wrapped.sessionIds = snapshot.sessionIds.bind(snapshot);
  if (snapshot.visitParts) {
    const f = snapshot.visitParts.bind(snapshot);
    wrapped.visitParts = (site: string, from: number, to: number, lastFrom: number) => cache.getOrLoad(key('visitParts', [site, from, to, lastFrom]), () => f(site, from, to, lastFrom), Infinity, onHit);
  }
  if (snapshot.retained) wrapped.retained = snapshot.retained.bind(snapshot);
  if (snapshot.funnel) {
    const f = snapshot.funnel.bind(snapshot);
    wrapped.funnel = (q: FunnelQuery) => cache.getOrLoad(key('funnel', q), () => f(q), Infinity, onHit);
  }
  return wrapped;
}

export function cachedSpeed(speed: SpeedViews, cache: ResultCache, ttlMs: number, observe?: CacheObserver): SpeedViews {
  if (ttlMs <= 0) return speed;
  const key = (method: string, args: unknown) => `s\u0000${method}\u0000${JSON.stringify(args)}`;
  const onHit = observe && ((hit: boolean) => observe('speed', hit));
  const wrapped: SpeedViews = {
    source: speed.source,
    exact: speed.exact,
    coverage: (site) => cache.getOrLoad(key('coverage', site), () => speed.coverage(site), ttlMs, onHit),
    series: (q) => cache.getOrLoad(key('series', q), () => speed.series(q), ttlMs, onHit),
    totals: (q) => cache.getOrLoad(key('totals', q), () => speed.totals(q), ttlMs, onHit),
    breakdown: (q) => cache.getOrLoad(key('breakdown', q), () => speed.breakdown(q), ttlMs, onHit),
  };
  // The union takes the batch side's ids: too large a key to cache, and cheap next to them.
  if (speed.visitorsUnion) wrapped.visitorsUnion = speed.visitorsUnion.bind(speed);
  if (speed.sessionsUnion) wrapped.sessionsUnion = speed.sessionsUnion.bind(speed);
  if (speed.visitParts) wrapped.visitParts = speed.visitParts.bind(speed);
  const realtime = speed.realtime?.bind(speed);
  if (realtime) wrapped.realtime = (site) => cache.getOrLoad(key('realtime', site), () => realtime(site), ttlMs, onHit);
  return wrapped;
}
