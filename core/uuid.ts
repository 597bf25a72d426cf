/**
 * A UUID in its canonical text form (8-4-4-4-12 hex digits, either case): the events' ids, Umami's
 * website and event ids. One pattern for checking a whole string and for finding one in text.
 */
const UUID_SOURCE = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const UUID_LENGTH = 36;

const WHOLE = new RegExp(`^${UUID_SOURCE}$`, 'i');
/** Sticky: tried at `lastIndex` only. */
const AT = new RegExp(UUID_SOURCE, 'iy');

export function isUuid(text: string): boolean {
  return WHOLE.test(text);
}

/** Whether a UUID starts at `index` of `text`. */
export function uuidAt(text: string, index: number): boolean {
  AT.lastIndex = index;
  return AT.test(text);
}
