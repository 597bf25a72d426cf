/**
 * Which dead letters hold an erased visitor's (or site's) data. A letter keeps the original
 * bytes, so it is matched by what those bytes carry: a JSON body by its events' `site_id` and
 * `visitor_id`, and bytes that do not parse by the visitor id as a JSON string (`"id"`) or as an
 * Avro string (its zig-zag length, then the bytes). The matching errs towards erasing: a letter
 * that names the visitor at all goes, even when other events share its body.
 */
import type { StoredDeadLetter } from './types.ts';

export interface ErasureTarget {
  site: string;
  /** Absent: the whole site. */
  visitor?: string;
}

type Letter = Pick<StoredDeadLetter, 'siteId' | 'payload' | 'payloadFormat'>;

/** Avro's encoding of a string: zig-zag varint length, then the UTF-8 bytes. */
export function avroString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  let n = bytes.length * 2; // zig-zag of a non-negative length
  const len: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from(len), bytes]);
}

/** Every object in a parsed JSON value that looks like an event: our shape (`site_id`, `visitor_id`) or the collector's (`visitor`). */
function* events(v: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (depth > 8 || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) yield* events(x, depth + 1);
    return;
  }
  const o = v as Record<string, unknown>;
  if ('site_id' in o || 'visitor_id' in o || 'visitor' in o) yield o;
  for (const x of Object.values(o)) if (x !== null && typeof x === 'object') yield* events(x, depth + 1);
}

function parsed(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

export function letterMatches(l: Letter, t: ErasureTarget): boolean {
  const json = l.payloadFormat === 'json' ? parsed(l.payload) : undefined;
  if (json !== undefined) {
    const evs = [...events(json)];
    // An event names its site; a body without one belongs to the letter's site.
    const ofSite = (e: Record<string, unknown>) => (e.site_id === undefined ? l.siteId === t.site : e.site_id === t.site);
    if (t.visitor === undefined) return l.siteId === t.site || evs.some(ofSite);
    return evs.some((e) => ofSite(e) && (e.visitor_id === t.visitor || e.visitor === t.visitor));
  }
  if (l.siteId !== undefined && l.siteId !== t.site) return false;
  if (t.visitor === undefined) return l.siteId === t.site;
  return l.payload.includes(avroString(t.visitor)) || l.payload.includes(Buffer.from(JSON.stringify(t.visitor), 'utf8'));
}
