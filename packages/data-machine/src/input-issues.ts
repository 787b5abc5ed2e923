import type { z } from 'zod';

/** One problem with an input, at a dotted field path (`body.steps.0.key`), in the operator's words. */
export interface InputIssue {
  readonly path: string;
  readonly message: string;
}

type RawIssue = z.core.$ZodRawIssue;

/**
 * The error map that words zod's issues for the person who sent the input:
 * `is required`, `must be a whole number, not "abc"`, `must be one of "a",
 * "b"`, `unknown field "x"`. `input` is the value as it was sent (before any
 * coercion), so a message quotes what was sent rather than `NaN`. A message
 * the schema sets itself wins over this map (zod's precedence), so a field's
 * own wording stays. The one place such wording is decided: the product's
 * parsing and the server's request validation both pass it.
 *
 * @example
 * const parsed = schema.safeParse(value, { error: inputErrorMap(value) });
 */
export function inputErrorMap(input: unknown): z.core.$ZodErrorMap {
  return (issue) => describeIssue(issue, valueAt(input, issue.path ?? []));
}

/** `schema.safeParse(value)` with messages worded by {@link inputErrorMap}. */
export function safeParseInput<Schema extends z.ZodType>(schema: Schema, value: unknown): z.ZodSafeParseResult<z.output<Schema>> {
  return schema.safeParse(value, { error: inputErrorMap(value) });
}

/** The issues of a zod error as `{ path, message }`, their paths under `prefix`. */
export function inputIssues(error: z.ZodError, prefix: readonly (string | number)[] = []): InputIssue[] {
  return error.issues.map((issue) => ({ path: [...prefix, ...issue.path.map(String)].join('.'), message: issue.message }));
}

/** `Invalid <what>: <path>: <message>` for the first issue, `(and N more)` when there are others. */
export function describeInputIssues(what: string, issues: readonly InputIssue[]): string {
  const [first] = issues;
  if (first === undefined) return `Invalid ${what}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return first.path === '' ? `Invalid ${what}: ${first.message}${more}` : `Invalid ${what}: ${first.path}: ${first.message}${more}`;
}

function describeIssue(issue: RawIssue, value: unknown): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required';
      return `must be ${typeName(issue.expected)}, not ${shown(value)}`;
    case 'too_small':
      return bound(issue.origin, 'least', issue.minimum, issue.inclusive ?? true);
    case 'too_big':
      return bound(issue.origin, 'most', issue.maximum, issue.inclusive ?? true);
    case 'invalid_value':
      return oneOf(issue.values, value);
    case 'invalid_union': {
      // A discriminated union that found no option names the discriminator's values.
      const options = (issue as { options?: readonly unknown[] }).options;
      if (options !== undefined) return value === undefined ? 'is required' : oneOf(options, value);
      return unionOfTypes(issue.errors, value);
    }
    case 'invalid_format':
      return format(issue.format, value);
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return undefined;
  }
}

/** A union whose every option refused the value's type: `must be a string or an object, not 5`. */
function unionOfTypes(branches: readonly (readonly z.core.$ZodIssue[])[], value: unknown): string | undefined {
  const expected: string[] = [];
  for (const branch of branches) {
    const mismatch = branch.find((issue) => issue.code === 'invalid_type' && issue.path.length === 0);
    if (mismatch?.code !== 'invalid_type') return undefined;
    const name = typeName(mismatch.expected);
    if (!expected.includes(name)) expected.push(name);
  }
  if (expected.length === 0) return undefined;
  if (value === undefined) return 'is required';
  return `must be ${expected.join(' or ')}, not ${shown(value)}`;
}

function bound(origin: string, side: 'least' | 'most', limit: number | bigint | Date, inclusive: boolean): string | undefined {
  const amount = Number(limit);
  switch (origin) {
    case 'number':
    case 'int':
    case 'bigint':
      if (inclusive) return `must be at ${side} ${String(limit)}`;
      return `must be ${side === 'least' ? 'more' : 'less'} than ${String(limit)}`;
    case 'string':
      if (side === 'least' && amount === 1) return 'must not be empty';
      return `must be at ${side} ${amount} character${amount === 1 ? '' : 's'} long`;
    case 'array':
    case 'set':
      if (side === 'least' && amount === 1) return 'must not be empty';
      return `must have at ${side} ${amount} item${amount === 1 ? '' : 's'}`;
    default:
      return undefined;
  }
}

function oneOf(values: readonly unknown[], value: unknown): string {
  const listed = values.map((option) => shown(option)).join(', ');
  const expected = values.length === 1 ? `must be ${listed}` : `must be one of ${listed}`;
  return value === undefined ? expected : `${expected}, not ${shown(value)}`;
}

const formats: Readonly<Record<string, string>> = {
  datetime: 'a date and time with its offset, like 2026-12-02T09:30:00Z',
  date: 'a date, like 2026-12-02',
  time: 'a time, like 09:30:00',
  url: 'a URL, like https://example.com/feed.xml',
  email: 'an email address',
  uuid: 'a UUID',
  duration: 'an ISO 8601 duration, like PT15M',
};

function format(name: string, value: unknown): string | undefined {
  const expected = formats[name];
  if (expected === undefined) return undefined;
  return typeof value === 'string' ? `must be ${expected}, not ${shown(value)}` : `must be ${expected}`;
}

const typeNames: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  date: 'a date',
  null: 'null',
  record: 'an object',
  map: 'an object',
  tuple: 'a list',
};

function typeName(expected: string): string {
  return typeNames[expected] ?? `a ${expected}`;
}

/** A value as the message quotes it: scalars as written, containers by kind. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return `a ${typeof value}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
