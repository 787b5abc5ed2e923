import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { deepFreeze } from '../tools/internal/deep-freeze';
import { toolPolicySchema } from '../tools/tool-policy';

/** Agent slugs: a lowercase letter, then up to 63 lowercase letters, digits or hyphens. */
export const agentSlugPattern = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * Memory file names: dot-separated parts of letters, digits, `_` and `-`, as
 * `SOUL.md` or `notes_2024.txt`. No separators, no leading dot, no `..`, so a
 * name can never point outside the agent's memory folder.
 */
export const memoryFileNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;

/** The longest memory file name accepted. */
export const maxMemoryFileNameLength = 128;

/** A slug naming an agent: see {@link agentSlugPattern}. */
export const agentSlugSchema = z
  .string()
  .regex(agentSlugPattern, 'must be a lowercase letter, then up to 63 lowercase letters, digits or hyphens');

/** A memory file name: see {@link memoryFileNamePattern}. */
export const memoryFileNameSchema = z
  .string()
  .max(maxMemoryFileNameLength)
  .regex(memoryFileNamePattern, 'must be a plain file name such as SOUL.md: letters, digits, _ and - in dot-separated parts');

const nonBlank = z.string().refine((value) => value.trim() !== '', 'must not be blank');

/**
 * What an agent overrides of the runner's defaults; an absent field keeps the
 * runner's default. `temperature` is 0 to 2, `maxTurns` a positive integer.
 */
export const agentRuntimeOverridesSchema = z
  .strictObject({
    model: z.string().min(1).optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTurns: z.number().int().positive().optional(),
  })
  .readonly();
export type AgentRuntimeOverrides = z.infer<typeof agentRuntimeOverridesSchema>;

const subagentsSchema = z
  .array(agentSlugSchema)
  .readonly()
  .refine((slugs) => new Set(slugs).size === slugs.length, 'must not name a subagent twice');

/**
 * A declared agent. Unknown keys are refused, so a misspelt field fails loudly.
 * - `slug`: its unique name (see {@link agentSlugPattern}).
 * - `label`: a display name, not blank. `description`: defaults to `''`.
 * - `instructions`: the system prompt, not blank.
 * - `runtime`: overrides of the runner's defaults; defaults to `{}`.
 * - `toolPolicy`: which tools a run offers; absent, nothing is filtered by policy.
 * - `memorySeeds`: memory file name to its initial content; defaults to `{}`.
 * - `subagents`: slugs of the agents it may call, no repeats; defaults to `[]`.
 *   They are not checked against the registry: a host may resolve them elsewhere.
 * - `metadata`: JSON values, defaults to `{}`. Descriptive only: nothing in this
 *   package reads it, and it never grants a tool, a capability or any access.
 */
export const agentDefinitionSchema = z
  .strictObject({
    slug: agentSlugSchema,
    label: nonBlank,
    description: z.string().default(''),
    instructions: nonBlank,
    runtime: agentRuntimeOverridesSchema.default({}),
    toolPolicy: toolPolicySchema.optional(),
    memorySeeds: z.record(memoryFileNameSchema, z.string()).readonly().default({}),
    subagents: subagentsSchema.default([]),
    metadata: z.record(z.string(), z.json()).readonly().default({}),
  })
  .readonly();

/** A validated, deeply frozen agent definition, defaults applied. */
export type AgentDefinition = z.infer<typeof agentDefinitionSchema>;

/** What a host writes to declare an agent: fields with defaults may be left out. */
export type AgentDefinitionInput = z.input<typeof agentDefinitionSchema>;

/**
 * Validates `input` and returns it as a deeply frozen {@link AgentDefinition},
 * defaults applied; `input` itself is neither kept nor frozen. Throws
 * `agent.invalid_definition` with `details: { slug, issues }` (zod's issues;
 * `slug` is null when the input has none).
 *
 * @example
 * const writer = defineAgent({ slug: 'writer', label: 'Writer', instructions: 'You write clearly.' });
 */
export function defineAgent(input: unknown): AgentDefinition {
  const result = agentDefinitionSchema.safeParse(input);
  if (!result.success) throw invalidDefinition(input, result.error);
  // Safe to walk: a parsed definition holds only strings, numbers, booleans,
  // null, arrays and plain objects that zod created, never the caller's objects.
  return deepFreeze(result.data);
}

function invalidDefinition(input: unknown, error: z.ZodError): AgentsApiError {
  const slug = slugOf(input);
  const subject = slug === null ? 'An agent definition' : `Agent definition "${slug}"`;
  return new AgentsApiError('agent.invalid_definition', `${subject} is invalid: ${summarize(error)}.`, {
    details: { slug, issues: error.issues },
    cause: error,
  });
}

function summarize(error: z.ZodError): string {
  return error.issues.map((issue) => `${pathText(issue.path)}: ${issue.message}`).join('; ');
}

// Keys of memorySeeds may hold dots or slashes, so odd keys are quoted, not joined with dots.
function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'definition' : path.map(pathSegment).join('');
}

function pathSegment(key: PropertyKey, index: number): string {
  if (typeof key === 'number') return `[${key}]`;
  const name = String(key);
  if (/^[A-Za-z_]\w*$/.test(name)) return index === 0 ? name : `.${name}`;
  return `[${JSON.stringify(name)}]`;
}

function slugOf(input: unknown): string | null {
  if (typeof input !== 'object' || input === null) return null;
  const slug: unknown = (input as { slug?: unknown }).slug;
  return typeof slug === 'string' ? slug : null;
}
