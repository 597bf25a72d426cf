/**
 * Goals (sites file `goals`): a page path, exact or with `*` wildcards, or a custom event's name.
 * A goal is a filter condition on the events (page views of a matching page, custom events or
 * purchases of the name), so every store answers it as it answers any condition, and the goal
 * metrics are made of store metrics under it:
 * - `conversions`: the goal's completions (page views of a page goal; custom events and purchases
 *   of an event goal);
 * - `visitors` under a goal: the converting visitors (visitors with an event matching it);
 * - `conversion_rate`: converting visitors / visitors of the query without the goal, so a rate
 *   across W is a quotient of two unions (sketch error on the speed side);
 * - `revenue` under a goal: the revenue of its purchases (a purchase goal: `event: "purchase"`).
 */
import type { FilterCondition, Metric, MetricValues } from '../core/views.ts';
import { badRequest } from './api.errors.ts';

export const GOAL_METRICS = ['conversions', 'conversion_rate'] as const;
export type GoalMetric = (typeof GOAL_METRICS)[number];
/** A metric the API answers: a store metric, or a goal metric made of them. */
export type ApiMetric = Metric | GoalMetric;

/** A site's goal as the sites file defines it. */
export interface GoalDefinition {
  name: string;
  page?: string | undefined;
  event?: string | undefined;
}

/** The filter condition a goal is: which events complete it. */
export function goalCondition(goal: GoalDefinition): FilterCondition {
  if (goal.page !== undefined) return { op: goal.page.includes('*') ? 'matches' : 'is', dimension: 'page', values: [goal.page] };
  return { op: 'is', dimension: 'event_name', values: [goal.event!] };
}

/** The store metrics a goal's conversions are the sum of. */
export function conversionMetrics(goal: GoalDefinition): Metric[] {
  return goal.page !== undefined ? ['pageviews'] : ['events', 'purchases'];
}

export function isGoalMetric(m: string): m is GoalMetric {
  return (GOAL_METRICS as readonly string[]).includes(m);
}

/** A goal of the site by name; an unknown one is a 400 naming the goals there are. */
export function findGoal(goals: readonly GoalDefinition[] | undefined, name: string): GoalDefinition {
  const goal = goals?.find((g) => g.name === name);
  if (!goal) throw badRequest(`goal "${name.slice(0, 64)}" is unknown for this site; its goals: ${goals?.length ? goals.map((g) => g.name).join(', ') : 'none (sites file `goals`)'}`);
  return goal;
}

/**
 * The metrics a goal answer needs from the stores under the goal (`withGoal`) and without it
 * (`without`: the visitors a conversion rate divides by).
 */
export function goalPlan(metrics: readonly ApiMetric[], goal: GoalDefinition): { withGoal: Metric[]; without: Metric[] } {
  const withGoal = new Set<Metric>();
  for (const m of metrics) {
    if (m === 'conversions') for (const c of conversionMetrics(goal)) withGoal.add(c);
    else if (m === 'conversion_rate') withGoal.add('visitors');
    else withGoal.add(m);
  }
  return { withGoal: [...withGoal], without: metrics.includes('conversion_rate') ? ['visitors'] : [] };
}

/** One answer's goal metrics from the store values under the goal and without it; null where a part is missing. */
export function goalValues(metrics: readonly ApiMetric[], goal: GoalDefinition, withGoal: Partial<Record<Metric, number | null>>, without: Partial<Record<Metric, number | null>>): Partial<Record<ApiMetric, number | null>> {
  const out: Partial<Record<ApiMetric, number | null>> = {};
  for (const m of metrics) {
    if (m === 'conversions') {
      const parts = conversionMetrics(goal).map((c) => withGoal[c]);
      out[m] = parts.some((v) => v === null || v === undefined) ? null : parts.reduce((n: number, v) => n + v!, 0);
    } else if (m === 'conversion_rate') {
      const [hit, all] = [withGoal.visitors, without.visitors];
      out[m] = hit === null || hit === undefined || all === null || all === undefined ? null : all === 0 ? 0 : Math.min(1, hit / all);
    } else out[m] = withGoal[m] ?? null;
  }
  return out;
}

/** Store values as the goal functions take them. */
export function asNullable(v: MetricValues | Partial<Record<Metric, number | null>>): Partial<Record<Metric, number | null>> {
  return v as Partial<Record<Metric, number | null>>;
}
