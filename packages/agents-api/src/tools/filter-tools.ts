import { can, isAutonomous } from '../permissions/can';
import type { Principal } from '../permissions/principal';
import type { AnyToolDefinition } from './tool';
import type { ToolPolicy } from './tool-policy';

/**
 * Why a tool was not offered, one per rule:
 * - `category`: not in the policy's `categories`, and not mandatory.
 * - `not_allowed`: not in the policy's `allow`, and not mandatory.
 * - `not_in_allow_only`: not in the policy's `allowOnly` (mandatory or not).
 * - `denied`: in the policy's `deny`.
 * - `client_side`: a client-side tool that neither `allow` nor `allowOnly` names.
 * - `autonomous_write`: a write tool, an autonomous principal, no `allowAutonomousWrites`.
 * - `capability`: its capability fails `can` for the principal.
 */
export type ToolExclusionReason =
  | 'category'
  | 'not_allowed'
  | 'not_in_allow_only'
  | 'denied'
  | 'client_side'
  | 'autonomous_write'
  | 'capability';

/** A tool left out, and the first rule (in {@link ToolExclusionReason}'s order) that left it out. */
export interface ToolExclusion {
  readonly toolName: string;
  readonly reason: ToolExclusionReason;
}

/** Options of {@link filterTools}. */
export interface FilterToolsOptions {
  /** Absent: only the principal's permissions and the client-side rule filter. */
  readonly policy?: ToolPolicy;
  readonly principal: Principal;
  /** What the acting user was granted; read once. */
  readonly granted: Iterable<string>;
}

/** The tools to offer, in their given order, and each one left out with its reason. */
export interface FilteredTools {
  readonly tools: readonly AnyToolDefinition[];
  readonly excluded: readonly ToolExclusion[];
}

/**
 * Applies a tool policy (see `toolPolicySchema` for its order and rules) and
 * the principal's permissions to `tools`. Nothing is left out silently: every
 * exclusion is reported with its reason.
 *
 * @example
 * const { tools, excluded } = filterTools(available, { policy: agent.toolPolicy, principal, granted });
 */
export function filterTools(tools: Iterable<AnyToolDefinition>, options: FilterToolsOptions): FilteredTools {
  const scope = createScope(options);
  const kept: AnyToolDefinition[] = [];
  const excluded: ToolExclusion[] = [];
  for (const tool of tools) {
    const reason = exclusionReason(tool, scope);
    if (reason === undefined) kept.push(tool);
    else excluded.push({ toolName: tool.name, reason });
  }
  return { tools: kept, excluded };
}

interface FilterScope {
  readonly categories: ReadonlySet<string> | undefined;
  readonly allow: ReadonlySet<string> | undefined;
  readonly allowOnly: ReadonlySet<string> | undefined;
  readonly deny: ReadonlySet<string>;
  readonly autonomousWritesBlocked: boolean;
  readonly principal: Principal;
  readonly granted: readonly string[];
}

function createScope({ policy = {}, principal, granted }: FilterToolsOptions): FilterScope {
  return {
    categories: toSet(policy.categories),
    allow: toSet(policy.allow),
    allowOnly: toSet(policy.allowOnly),
    deny: new Set(policy.deny),
    autonomousWritesBlocked: isAutonomous(principal) && policy.allowAutonomousWrites !== true,
    principal,
    // `can` walks the grants once per tool; a generator would be spent after the first.
    granted: [...granted],
  };
}

function toSet(names: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return names === undefined ? undefined : new Set(names);
}

/** Whether the tool passes one rule. */
type ToolRule = (tool: AnyToolDefinition, scope: FilterScope) => boolean;

// The policy's lists in its documented order, then the rules that hold with or without a policy.
const rules: readonly (readonly [ToolExclusionReason, ToolRule])[] = [
  ['category', (tool, { categories }) => isMandatoryOrIn(categories, tool, tool.category)],
  ['not_allowed', (tool, { allow }) => isMandatoryOrIn(allow, tool, tool.name)],
  ['not_in_allow_only', (tool, { allowOnly }) => allowOnly === undefined || allowOnly.has(tool.name)],
  ['denied', (tool, { deny }) => !deny.has(tool.name)],
  ['client_side', (tool, scope) => tool.clientSide !== true || isNamed(tool.name, scope)],
  ['autonomous_write', (tool, { autonomousWritesBlocked }) => tool.writes !== true || !autonomousWritesBlocked],
  ['capability', (tool, { principal, granted }) => tool.capability === undefined || can(principal, tool.capability, granted)],
];

function exclusionReason(tool: AnyToolDefinition, scope: FilterScope): ToolExclusionReason | undefined {
  return rules.find(([, passes]) => !passes(tool, scope))?.[0];
}

/** An absent list does not filter; a present one keeps its members and mandatory tools. */
function isMandatoryOrIn(list: ReadonlySet<string> | undefined, tool: AnyToolDefinition, key: string | undefined): boolean {
  if (list === undefined || tool.mandatory === true) return true;
  return key !== undefined && list.has(key);
}

function isNamed(toolName: string, { allow, allowOnly }: FilterScope): boolean {
  return allow?.has(toolName) === true || allowOnly?.has(toolName) === true;
}
