import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { deepFreeze } from './internal/deep-freeze';
import { toolNamePattern, type AnyToolDefinition, type ToolDefinition } from './tool';

/** The part of a definition that `tool.invalid_definition` names in `details.field`. */
export type ToolDefinitionField = 'name' | 'description' | 'input' | 'execute';

/**
 * Checks a tool and returns a frozen copy. The executor's input type is
 * inferred from the `input` schema. Throws `tool.invalid_definition`, with
 * `details: { toolName, field, problem }`, for a name the model APIs reject,
 * an empty description, an `input` that is not a zod schema of a JSON object,
 * or a missing executor.
 *
 * @example
 * const weather = defineTool({
 *   name: 'get_weather',
 *   description: 'Current weather for a city.',
 *   input: z.object({ city: z.string() }),
 *   execute: ({ city }) => lookUp(city),
 * });
 */
export function defineTool<Input, Output>(definition: ToolDefinition<Input, Output>): ToolDefinition<Input, Output> {
  checkName(definition.name);
  checkDescription(definition);
  toolInputJsonSchema(definition);
  checkExecute(definition);
  return Object.freeze({ ...definition });
}

/**
 * A tool's arguments as JSON Schema, without `$schema`: zod's input side, so a
 * field with a default is optional, as the model may leave it out. Throws
 * `tool.invalid_definition` unless `input` converts to a JSON Schema object.
 */
export function toolInputJsonSchema(tool: Pick<AnyToolDefinition, 'name' | 'input'>): Readonly<Record<string, unknown>> {
  if (!isZodSchema(tool.input)) throw invalidDefinition(tool.name, 'input', 'input is not a zod schema');
  const cached = jsonSchemas.get(tool.input);
  if (cached) return cached;
  const { $schema: _dialect, ...parameters } = convertInput(tool.name, tool.input);
  // The model APIs take an object of named arguments at the top, never a bare value or a union.
  if (parameters.type !== 'object') throw invalidDefinition(tool.name, 'input', 'input does not describe a JSON object');
  const frozen = deepFreeze(parameters);
  jsonSchemas.set(tool.input, frozen);
  return frozen;
}

/**
 * zod schemas are immutable, so each one is converted once: the loop sends
 * the tool list on every turn, and the conversion is the costliest part of a turn.
 */
const jsonSchemas = new WeakMap<z.ZodType, Readonly<Record<string, unknown>>>();

function convertInput(toolName: string, input: z.ZodType): Record<string, unknown> {
  try {
    return z.toJSONSchema(input, { io: 'input' });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidDefinition(toolName, 'input', `input has no JSON Schema form: ${reason}`, error);
  }
}

function checkName(name: unknown): void {
  if (typeof name === 'string' && toolNamePattern.test(name)) return;
  throw invalidDefinition(name, 'name', 'name must be 1 to 64 letters, digits, underscores or hyphens');
}

function checkDescription(definition: Pick<AnyToolDefinition, 'name' | 'description'>): void {
  const { description } = definition;
  if (typeof description === 'string' && description.trim() !== '') return;
  throw invalidDefinition(definition.name, 'description', 'description must not be empty');
}

function checkExecute(definition: Pick<AnyToolDefinition, 'name' | 'execute'>): void {
  if (typeof definition.execute === 'function') return;
  throw invalidDefinition(definition.name, 'execute', 'execute must be a function');
}

function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}

function invalidDefinition(toolName: unknown, field: ToolDefinitionField, problem: string, cause?: unknown): AgentsApiError {
  return new AgentsApiError('tool.invalid_definition', `Tool ${String(toolName)}: ${problem}.`, {
    details: { toolName: String(toolName), field, problem },
    cause,
  });
}
