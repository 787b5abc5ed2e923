/**
 * The part of JSON Schema (as zod 4's `z.toJSONSchema` writes a handler's
 * configuration) the console generates forms from. Anything else is edited
 * as JSON.
 */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly title?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly format?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly additionalProperties?: boolean | JsonSchema;
}

/** A JSON object: a handler configuration. */
export type JsonObject = Record<string, unknown>;

/** How a schema node is edited. */
export type FieldKind = 'enum' | 'string' | 'number' | 'integer' | 'boolean' | 'string-list' | 'object' | 'json';

/** The editor a schema node gets: a typed input where the schema is simple, JSON otherwise. */
export function fieldKind(schema: JsonSchema): FieldKind {
  if (Array.isArray(schema.enum) && schema.enum.every((option) => typeof option === 'string')) return 'enum';
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'array':
      return schema.items?.type === 'string' && schema.items.enum === undefined ? 'string-list' : 'json';
    case 'object':
      // A record (`additionalProperties` a schema) has no fixed fields to lay out.
      return schema.properties !== undefined && Object.keys(schema.properties).length > 0 && typeof schema.additionalProperties !== 'object' ? 'object' : 'json';
    default:
      return 'json';
  }
}

/** Whether `value` is a JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The configuration a new step starts from: every property's `default`, and
 * the defaults inside required nested objects. Required fields without one
 * stay absent, for the author to fill.
 */
export function defaultValue(schema: JsonSchema): JsonObject {
  const value: JsonObject = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property.default !== undefined) value[name] = property.default;
    else if (fieldKind(property) === 'object' && schema.required?.includes(name)) value[name] = defaultValue(property);
  }
  return value;
}

/** `value` with `path` (property names) set to `next`, or removed when `next` is undefined; nothing is mutated. */
export function setAt(value: JsonObject, path: readonly string[], next: unknown): JsonObject {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  const copy: JsonObject = { ...value };
  const child = rest.length === 0 ? next : setAt(isJsonObject(copy[head]) ? copy[head] : {}, rest, next);
  if (child === undefined || (rest.length > 0 && isJsonObject(child) && Object.keys(child).length === 0)) delete copy[head];
  else copy[head] = child;
  return copy;
}

/**
 * The field errors of one step's configuration, keyed by their path inside it
 * (`cursor.pointer`), from the issue paths a 400 names: the product's
 * `steps.<key>.handlerConfig.<field>` and the request's
 * `stepConfig.<key>.handlerConfig.<field>` or `steps.<index>.config.<field>`.
 */
export function errorsUnder(fields: ReadonlyMap<string, string>, prefixes: readonly string[]): ReadonlyMap<string, string> {
  const found = new Map<string, string>();
  for (const [path, message] of fields) {
    for (const prefix of prefixes) {
      if (path === prefix) found.set('', message);
      else if (path.startsWith(`${prefix}.`)) found.set(path.slice(prefix.length + 1), message);
    }
  }
  return found;
}
