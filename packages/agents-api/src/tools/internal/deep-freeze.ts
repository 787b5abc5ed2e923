/**
 * Freezes `value` and every object it holds, for trees built fresh for the
 * caller (zod's parsed output, a converted JSON Schema), never someone else's
 * objects, and never a cyclic graph. An object already frozen is still walked:
 * zod's `.readonly()` freezes a record but not what it holds.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}
