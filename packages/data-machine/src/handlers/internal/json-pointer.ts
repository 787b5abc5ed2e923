import { z } from 'zod';

/** An RFC 6901 JSON pointer: `""` (the whole document) or `/`-separated tokens, `~1` for `/` and `~0` for `~`. */
export const jsonPointerSchema = z
  .string()
  .max(500)
  .regex(/^(?:\/(?:[^~/]|~[01])*)*$/, 'a JSON pointer is "" or starts with "/" (RFC 6901), with "~" written "~0" and "/" in a name "~1"');

/** The value `pointer` names in `document`, or undefined when there is none. Array tokens are decimal indexes. */
export function resolveJsonPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) {
      if (!/^(?:0|[1-9]\d*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (typeof current === 'object' && current !== null && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}
