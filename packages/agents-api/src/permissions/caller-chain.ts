import type { z } from 'zod';
import { AgentsApiError } from '../errors';
import {
  capabilityCeilingSchema,
  maxCallerChainDepth,
  principalSchema,
  type AuthSource,
  type CapabilityCeiling,
  type Principal,
  type RequestContext,
} from './principal';

/**
 * What {@link createPrincipal} takes: `userId` and `agentSlug`, and any of the
 * other fields of a {@link Principal}; those left out take {@link principalDefaults}.
 */
export interface PrincipalInput {
  readonly userId: string | null;
  readonly agentSlug: string;
  /** The tenant the action is in; default null (no tenant). */
  readonly tenantId?: string | null;
  readonly authSource?: AuthSource;
  readonly requestContext?: RequestContext;
  readonly tokenId?: string | null;
  readonly ceiling?: CapabilityCeiling;
  readonly callerChain?: readonly string[];
}

/**
 * The fields {@link createPrincipal} fills in, chosen so that leaving a field out
 * never grants anything (see docs/decisions/2026-11-30-principal-defaults.md):
 * - `ceiling: { allowed: [], denied: [] }`: no capability. Tools that declare no
 *   `capability` still run; one that declares a capability needs a ceiling naming it.
 * - `authSource: 'runtime'`: the host's own code acted, no person at the keyboard,
 *   so the principal is autonomous (`isAutonomous`) and write tools need opt-in.
 * - `requestContext: 'cli'`, `tokenId: null`, `callerChain: []`: a direct call.
 * - `tenantId: null`: no tenant.
 */
export const principalDefaults = Object.freeze({
  tenantId: null,
  authSource: 'runtime',
  requestContext: 'cli',
  tokenId: null,
  ceiling: Object.freeze({ allowed: Object.freeze([]), denied: Object.freeze([]) }),
  callerChain: Object.freeze([]),
} as const satisfies Omit<Principal, 'userId' | 'agentSlug'>);

/**
 * Validates `input` and returns it as a frozen {@link Principal}; fields left
 * out (or `undefined`) take {@link principalDefaults}. Throws `principal.invalid`
 * with `details: { issues }` (zod's issues).
 *
 * @example
 * const principal = createPrincipal({ userId: 'user-1', agentSlug: 'writer' });
 * const wide = createPrincipal({
 *   userId: 'user-1', agentSlug: 'writer', authSource: 'user', requestContext: 'chat',
 *   ceiling: { allowed: ['search', 'publish'], denied: [] },
 * });
 */
export function createPrincipal(input: PrincipalInput): Principal;
/** Validates untrusted input, e.g. a principal read from JSON. */
export function createPrincipal(input: unknown): Principal;
export function createPrincipal(input: unknown): Principal {
  const result = principalSchema.safeParse(withDefaults(input));
  if (!result.success) throw invalidPrincipal('The principal is invalid', result.error);
  return freezePrincipal(result.data);
}

// Only createPrincipal fills defaults: isValidPrincipal must still refuse a plain
// object without a tenant, whose tenantId would read as undefined, not null.
// Only a plain object gets defaults; anything else reaches the schema unchanged
// and fails there with the schema's own message.
function withDefaults(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const filled: Record<string, unknown> = { ...principalDefaults };
  for (const [key, value] of Object.entries(input)) if (value !== undefined) filled[key] = value;
  return filled;
}

/** Options of {@link principalForSubagent}. */
export interface SubagentCallOptions {
  /** The agent being called. */
  readonly agentSlug: string;
  /** A ceiling to narrow to; it is intersected with the parent's, so it can never widen it. */
  readonly ceiling?: CapabilityCeiling;
}

/**
 * The principal of an agent called by the agent acting as `parent`: the same
 * user, tenant, auth source, request context and token; `parent.agentSlug` appended to
 * the caller chain; the parent's ceiling, narrowed by `options.ceiling` if given
 * (see {@link intersectCeilings}). Throws `principal.chain_too_deep` when the
 * chain would exceed {@link maxCallerChainDepth}, and `principal.invalid` for a
 * malformed slug or ceiling.
 *
 * @example
 * const child = principalForSubagent(principal, { agentSlug: 'fact-checker', ceiling: { allowed: ['search'], denied: [] } });
 */
export function principalForSubagent(parent: Principal, options: SubagentCallOptions): Principal {
  const callerChain = [...parent.callerChain, parent.agentSlug];
  if (callerChain.length > maxCallerChainDepth) throw chainTooDeep(options.agentSlug, callerChain);
  return createPrincipal({
    ...parent,
    // Named, not left to the spread: a subagent never leaves its caller's tenant.
    tenantId: parent.tenantId,
    agentSlug: options.agentSlug,
    ceiling: options.ceiling === undefined ? parent.ceiling : intersectCeilings(parent.ceiling, requestedCeiling(options.ceiling)),
    callerChain,
  });
}

/**
 * The ceiling that allows only what both `a` and `b` allow and denies what
 * either denies: `allowed` is the intersection of the lists (`'unrestricted'`
 * constrains nothing), `denied` the union. The result is never wider than
 * either input, so nesting can only narrow.
 */
export function intersectCeilings(a: CapabilityCeiling, b: CapabilityCeiling): CapabilityCeiling {
  return Object.freeze({ allowed: intersectAllowed(a.allowed, b.allowed), denied: unique([...a.denied, ...b.denied]) });
}

function intersectAllowed(a: CapabilityCeiling['allowed'], b: CapabilityCeiling['allowed']): CapabilityCeiling['allowed'] {
  if (a === 'unrestricted') return b === 'unrestricted' ? b : unique(b);
  if (b === 'unrestricted') return unique(a);
  const inB = new Set(b);
  return unique(a.filter((capability) => inB.has(capability)));
}

function unique(capabilities: readonly string[]): readonly string[] {
  return Object.freeze([...new Set(capabilities)]);
}

// The requested ceiling often comes from configuration: check it before it
// shapes the result, so an error names it rather than the merged principal.
function requestedCeiling(ceiling: unknown): CapabilityCeiling {
  const result = capabilityCeilingSchema.safeParse(ceiling);
  if (!result.success) throw invalidPrincipal('The requested subagent ceiling is invalid', result.error);
  return result.data;
}

function freezePrincipal(principal: Principal): Principal {
  const { allowed, denied } = principal.ceiling;
  const ceiling = Object.freeze({ allowed: allowed === 'unrestricted' ? allowed : Object.freeze(allowed), denied: Object.freeze(denied) });
  const frozen = Object.freeze({ ...principal, ceiling, callerChain: Object.freeze(principal.callerChain) });
  validated.add(frozen);
  return frozen;
}

/** Principals this module validated and deep-froze: they cannot have changed since. */
const validated = new WeakSet<Principal>();

/**
 * Whether `value` is a valid principal. One made by {@link createPrincipal}
 * or {@link principalForSubagent} is known valid without parsing it again.
 */
export function isValidPrincipal(value: unknown): value is Principal {
  if (typeof value === 'object' && value !== null && validated.has(value as Principal)) return true;
  return principalSchema.safeParse(value).success;
}

function chainTooDeep(agentSlug: string, callerChain: readonly string[]): AgentsApiError {
  return new AgentsApiError(
    'principal.chain_too_deep',
    `Agent "${agentSlug}" cannot be called: its caller chain would be ${callerChain.length} agents deep, more than ${maxCallerChainDepth}.`,
    { details: { agentSlug, callerChain, maxDepth: maxCallerChainDepth } },
  );
}

function invalidPrincipal(subject: string, error: z.ZodError): AgentsApiError {
  const summary = error.issues.map((issue) => `${issue.path.map(String).join('.') || 'value'}: ${issue.message}`).join('; ');
  return new AgentsApiError('principal.invalid', `${subject}: ${summary}.`, { details: { issues: error.issues }, cause: error });
}
