import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVING_OPTIONS } from './options.ts';
import { checkSegment } from './segment.check.ts';

describe('checkSegment', () => {
  const goals = [{ name: 'Signup', event: 'signup' }];
  it('takes what a query takes', () => {
    expect(() => checkSegment([['is', 'visit:device', ['mobile']], ['contains_not', 'page', ['/admin']], ['is', 'event:goal', ['Signup']]], goals, DEFAULT_SERVING_OPTIONS)).not.toThrow();
  });
  it.each([
    [[['is', 'visit:planet', ['mars']]], /planet/],
    [[['like', 'page', ['/']]], /operator "like" is unknown/],
    [[['is', 'event:goal', ['Nope']]], /goal "Nope" is unknown for this site; its goals: Signup/],
    [[['is', 'event:goal', ['Signup']], ['is', 'event:goal', ['Signup']]], /one event:goal clause/],
    [[['contains', 'page', ['']]], /empty value would match everything/],
    [Array.from({ length: 21 }, () => ['is', 'country', ['DE']] as const), /at most 20 filter clauses/],
  ] as const)('refuses %j, naming the problem', (clauses, problem) => {
    expect(() => checkSegment(clauses, goals, DEFAULT_SERVING_OPTIONS)).toThrow(problem);
  });
});
