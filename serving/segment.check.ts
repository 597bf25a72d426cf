/**
 * A saved segment checked as a query would take it (query.parser.ts withSegment): every clause's
 * operator, dimension and values, at most one `event:goal` clause naming a goal of the site, and
 * the query limits. `twinlane sites segment add` runs it, so a segment that would make every
 * query naming it a 400 never reaches the sites file.
 */
import type { Goal } from '../core/sites.ts';
import { parseFilterClauses, type FilterClause, type FilterLimits } from './filter.parser.ts';
import { findGoal } from './goals.ts';
import { splitGoalClause } from './query.parser.ts';

/** Throws the API's 400 error (ApiError) naming the first problem. */
export function checkSegment(clauses: readonly FilterClause[], goals: readonly Goal[], limits: FilterLimits, properties: readonly string[] = []): void {
  const { goal, rest } = splitGoalClause(clauses);
  if (goal !== undefined) findGoal(goals, goal);
  parseFilterClauses(rest, limits, undefined, 'segment filter', properties);
}
