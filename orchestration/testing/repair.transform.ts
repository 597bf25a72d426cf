/**
 * `dlq replay --transform` module of the end-to-end test: repairs the load generator's
 * repairable malformations (string screen width, unknown field, NUL in or oversized title) and
 * skips the others (no URL, unknown type, not an object), which stay dead-lettered.
 */
import type { TransformInput } from '../../dlq/index.ts';

export const REPAIRABLE_FIELDS = ['screen_width', 'colour', 'title'] as const;

export function repair(j: Record<string, unknown>): Record<string, unknown> {
  const { colour: _colour, ...rest } = j;
  const out: Record<string, unknown> = { ...rest };
  if (typeof out.screen_width === 'string') out.screen_width = Number(out.screen_width);
  if (typeof out.title === 'string') out.title = out.title.replaceAll('\u0000', '').slice(0, 200);
  return out;
}

export default function ({ letter, json }: TransformInput): unknown {
  if (!(REPAIRABLE_FIELDS as readonly string[]).includes(letter.field ?? '')) return null;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  return repair(json as Record<string, unknown>);
}
