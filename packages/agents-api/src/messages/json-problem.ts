/**
 * Why `value` cannot be stored as JSON exactly as given, or `undefined` when
 * it can. Stores call it before they write, so that every store refuses the
 * same values with a typed error rather than failing in `JSON.stringify` (a
 * BigInt, a cycle), changing the value silently (a function or symbol
 * dropped, `NaN` turned into `null`, a Map into `{}`), or failing in the
 * database (Postgres `text` and `jsonb` cannot hold U+0000).
 *
 * Plain objects, arrays, strings without U+0000, finite numbers, booleans and
 * null are storable; so is an object with a `toJSON` method (a Date) when
 * what that returns is. An `undefined` field is left out, as JSON does.
 * The answer names the first problem and where it is: `metadata.trace: a BigInt`.
 */
export function findJsonProblem(value: unknown, path = 'value'): string | undefined {
  return problemOf(value, path, []);
}

function problemOf(value: unknown, path: string, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case 'string':
      return value.includes('\u0000') ? `${path}: a NUL character (U+0000)` : undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path}: ${String(value)}, which JSON cannot hold`;
    case 'boolean':
    case 'undefined':
      return undefined;
    case 'bigint':
      return `${path}: a BigInt, which JSON cannot hold`;
    case 'function':
      return `${path}: a function, which JSON would drop`;
    case 'symbol':
      return `${path}: a symbol, which JSON would drop`;
    default:
      return value === null ? undefined : objectProblem(value as object, path, ancestors);
  }
}

function objectProblem(value: object, path: string, ancestors: object[], callToJSON = true): string | undefined {
  // Only the objects on the way down count: the same object twice side by side is fine.
  if (ancestors.includes(value)) return `${path}: a circular reference`;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (callToJSON && typeof toJSON === 'function') {
    // As JSON.stringify: toJSON once, then what it returned, as it is.
    const replaced = toJSON.call(value) as unknown;
    return typeof replaced === 'object' && replaced !== null ? objectProblem(replaced, path, ancestors, false) : problemOf(replaced, path, ancestors);
  }
  ancestors.push(value);
  try {
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index += 1) {
        const problem = problemOf(value[index] as unknown, `${path}[${index}]`, ancestors);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return `${path}: a ${typeof kind === 'string' && kind !== '' ? kind : 'non-plain object'}, which JSON would not keep`;
    }
    for (const key of Object.keys(value)) {
      if (key.includes('\u0000')) return `${path}: a key with a NUL character (U+0000)`;
      const problem = problemOf((value as Record<string, unknown>)[key], `${path}.${key}`, ancestors);
      if (problem !== undefined) return problem;
    }
    return undefined;
  } finally {
    ancestors.pop();
  }
}
